// `npm run gateway -- --port 0 --config FILE`: the simulated payment gateway as its own
// process. Prints `gateway listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { validSchedule } from './notifier.ts';
import { startGateway } from './server.ts';
import type { GatewayConfig } from './types.ts';

function loadConfig(file: string): GatewayConfig {
  const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<GatewayConfig>;
  if (typeof value !== 'object' || value === null || typeof value.keys?.alipay?.alipay_private_key !== 'string') {
    throw new Error(`${file}: not a gateway config (keys missing)`);
  }
  if (!validSchedule(value.notify_retry_schedule_ms)) {
    throw new Error(`${file}: notify_retry_schedule_ms must be 1..16 non-decreasing ms offsets starting at 0`);
  }
  return value as GatewayConfig;
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, config: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
});
if (values.config === undefined) {
  console.error('usage: npm run gateway -- --port 0 --config FILE');
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`bad --port ${values.port}`);
  process.exit(2);
}
const gateway = await startGateway({ config: loadConfig(values.config), port, host: values.host, log: (line) => console.log(line) });
console.log(`gateway listening on ${gateway.origin}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void gateway.close().then(() => process.exit(0));
    // A stuck connection must not keep the process alive past its stop.
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
