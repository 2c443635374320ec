// Runs the simulated gateway as a child process on a port the OS picks, for tests and
// `npm start`, and stops it by its own pid.
import { spawn } from 'node:child_process';
import path from 'node:path';

const MAIN = path.join(import.meta.dirname, 'main.ts');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const LISTENING = /^gateway listening on (http:\/\/127\.0\.0\.1:\d+)$/m;

export interface GatewayProcess {
  origin: string;
  pid: number;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

export async function spawnGateway(options: { config_path: string; node?: string }): Promise<GatewayProcess> {
  // Node 24 runs the .ts files directly; the test runner's own node is that one.
  const child = spawn(options.node ?? process.execPath, [MAIN, '--port', '0', '--config', options.config_path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('gateway did not start');
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not listen within ${START_TIMEOUT_MS} ms: ${output}`)), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
      const match = LISTENING.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening: ${output}`));
    });
  }).catch((err: unknown) => {
    process.kill(pid, 'SIGKILL');
    throw err;
  });
  // Keep draining the pipes so a chatty gateway never blocks on a full buffer.
  child.stdout.resume();
  child.stderr.resume();
  return {
    origin,
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
