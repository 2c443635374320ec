// Runs the simulated Aliyun SMS API as a child process on a port the OS picks, for tests and
// `npm start`, and stops it by its own process group (scripts/lib/processes.ts).
import path from 'node:path';
import { startService, type Service } from '../../scripts/lib/processes.ts';

const MAIN = path.join(import.meta.dirname, 'main.ts');
const READY_TIMEOUT_MS = 20_000;

export interface SmsProcess {
  origin: string;
  pid: number;
  stop(): Promise<void>;
}

export async function spawnSmsSim(options: { config_path: string; node?: string }): Promise<SmsProcess> {
  const service: Service = await startService({
    name: 'sms',
    command: options.node ?? process.execPath,
    args: [MAIN, '--port', '0', '--config', options.config_path],
    ready: /^sms listening on (http:\/\/127\.0\.0\.1:\d+)$/,
    ready_timeout_ms: READY_TIMEOUT_MS,
  });
  return { origin: service.ready_match[1]!, pid: service.pid, stop: () => service.stop() };
}
