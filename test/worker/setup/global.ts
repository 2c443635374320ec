// Runs in Node before the workerd tests: generates sandbox keys and provides them to the
// Worker as bindings, the way `.dev.vars` does for `wrangler dev`.
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSandboxKeys, workerVars, type SandboxKeys } from '../../../sim/keys.ts';
import { spawnGateway } from '../../../sim/gateway/process.ts';
import { unreachableOrigin } from '../../helpers/ports.ts';
import { startSmsForTests } from './sms.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    workerBindings: Record<string, string>;
    /** The simulated gateway process the Worker talks to (`http://127.0.0.1:PORT`). */
    gatewayOrigin: string;
    sandboxKeys: SandboxKeys;
    /** `http://127.0.0.1:PORT` bound and closed here: workerd cannot bind one itself. */
    unreachableOrigin: string;
    /** The simulated Aliyun SMS process (`http://127.0.0.1:PORT`). */
    smsOrigin: string;
    /** YIKATONG_TEST_SEED as the runner got it ('' when unset): workerd has no process.env. */
    testSeed: string;
    /** YIKATONG_FUZZ_RUNS ('' when unset): cases per route for a deeper fuzz run than the default. */
    fuzzRuns: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A real gateway process on a port the OS picks, with keys made for this run only.
  const keys = await generateSandboxKeys();
  const config_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-gateway-'));
  const config_path = path.join(config_dir, 'gateway.json');
  // Compressed retries: the Worker under test has no listening port, so deliveries fail fast.
  writeFileSync(config_path, JSON.stringify({ keys, notify_retry_schedule_ms: [0, 1_000, 5_000] }));
  const gateway = await spawnGateway({ config_path });
  const sms = await startSmsForTests(config_dir).catch(async (error: unknown) => {
    await gateway.stop();
    throw error;
  });
  project.provide('smsOrigin', sms.origin);
  project.provide('testSeed', process.env.YIKATONG_TEST_SEED ?? '');
  project.provide('fuzzRuns', process.env.YIKATONG_FUZZ_RUNS ?? '');
  project.provide('gatewayOrigin', gateway.origin);
  project.provide('sandboxKeys', keys);
  project.provide('unreachableOrigin', await unreachableOrigin());
  project.provide('workerBindings', {
    ...workerVars(keys, gateway.origin),
    ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
    CARD_TOKEN_SECRET: 'test-card-token-secret-0123456789abcdef',
    ...sms.bindings,
  });
  return async () => {
    await gateway.stop();
    await sms.stop();
    rmSync(config_dir, { recursive: true, force: true });
  };
}
