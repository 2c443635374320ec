// `npm run sms -- --port 0 --config FILE`: the simulated Aliyun SMS API as its own process.
// Prints `sms listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSmsSim, type SmsSimConfig } from './server.ts';

function loadConfig(file: string): SmsSimConfig {
  const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<SmsSimConfig>;
  if (
    typeof value?.access_key_id !== 'string' ||
    typeof value.access_key_secret !== 'string' ||
    !Array.isArray(value.sign_names) ||
    !value.sign_names.every((name) => typeof name === 'string')
  ) {
    throw new Error(`${file}: not an SMS simulator config (access_key_id, access_key_secret, sign_names)`);
  }
  return value as SmsSimConfig;
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, config: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
});
if (values.config === undefined) {
  console.error('usage: npm run sms -- --port 0 --config FILE');
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`bad --port ${values.port}`);
  process.exit(2);
}
const sim = await startSmsSim({ config: loadConfig(values.config), port, host: values.host, log: (line) => console.log(line) });
console.log(`sms listening on ${sim.origin}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void sim.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
