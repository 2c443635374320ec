// Hubs against the real Worker (`wrangler dev`, local D1, the simulated gateway) started the way
// `npm start` starts them: the demo school and its payers, the card office's admin calls, a hub
// enrolled as an operator would, and stopping all of it. The single-hub tests (sync, push, card
// status) and the fleet (helpers/fleet.ts) share it.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { startCampus, type Campus, type CampusOptions } from '../../../scripts/start.ts';
import { until as untilWithin } from '../../helpers/wait.ts';
import type { HubHarness, RegisteredTerminal } from './hub.ts';

export const SCHOOL = 'bjtu-weihai';
export const WAIT_MS = 20_000;
export const CARDS = {
  zhang: { school_id: SCHOOL, name: '张三', card_no: '20230001' },
  li: { school_id: SCHOOL, name: '李小红', card_no: '20230002' },
  wang: { school_id: SCHOOL, name: '王老师', card_no: 'T1001' },
  visitor: { school_id: SCHOOL, name: '访客', card_no: '999' },
  zhao: { school_id: SCHOOL, name: '赵六', card_no: 'F000999' },
} as const;
export type CardRef = (typeof CARDS)[keyof typeof CARDS];
// The demo registry's cards: a hub that has them all has had its first pull.
const DEMO_REGISTRY_CARDS = 5;

/** Bounded wait (WAIT_MS unless told) for a condition the hubs or the Worker reach asynchronously. */
export function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeout_ms = WAIT_MS): Promise<T> {
  return untilWithin(what, probe, { timeout_ms, interval_ms: 50 });
}

/** Worker and gateway on ports the OS picked, their state under `work_dir`. */
export function startTestCampus(work_dir: string, options: Pick<CampusOptions, 'notify_retry_schedule_ms'> = {}): Promise<Campus> {
  return startCampus({ worker_port: 0, gateway_port: 0, state_dir: path.join(work_dir, 'state'), dev_dir: work_dir, ...options });
}

/** A call to the Worker's admin API with the campus's admin token, as the card office makes it. */
export function adminRequest(campus: Campus, method: string, pathname: string, body?: unknown, content_type = 'application/json'): Promise<Response> {
  return fetch(`${campus.worker_url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${campus.keys.admin_token}`, ...(body === undefined ? {} : { 'content-type': content_type }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
}

/** The card office registers a hub's public key for SCHOOL. */
export async function registerHub(campus: Campus, hub_id: string, public_key: string): Promise<void> {
  const registered = await adminRequest(campus, 'PUT', `/api/v1/admin/hubs/${hub_id}`, { school_id: SCHOOL, public_key });
  expect(registered.status, await registered.clone().text()).toBe(201);
}

/** A new hub's keys (`keygen`, `card-keys init`), registered with the Worker, and a till added. */
export async function enrolHub(campus: Campus, hub: HubHarness, till_id: string): Promise<RegisteredTerminal> {
  const hub_id = hub.options.hub_id;
  if (hub_id === undefined) throw new Error('a hub enrolled with the Worker needs a hub_id');
  await hub.init();
  await registerHub(campus, hub_id, hub.public_key);
  return hub.addTerminal(till_id);
}

/** Until the first pull has brought the school's card registry (and, with `push`, the push channel is up). */
export async function untilCaughtUp(hub: HubHarness, options: { push: boolean; timeout_ms?: number }): Promise<void> {
  await until(
    options.push ? 'hub caught up, push connected' : 'hub caught up',
    async () => {
      const health = await hub.health();
      return (health.cards as number) >= DEMO_REGISTRY_CARDS && (!options.push || health.push_connected === true);
    },
    options.timeout_ms,
  );
}

/**
 * Stops what a test started in order, each part even when an earlier one failed to stop, and
 * prints the hub's output first when HUB_TEST_DEBUG is set. Parts a failed start never made are
 * undefined.
 */
export async function stopCampusTest(parts: { hub?: HubHarness; link?: { close(): Promise<void> }; campus?: Campus; work_dir: string }): Promise<void> {
  if (process.env.HUB_TEST_DEBUG !== undefined) process.stderr.write(`--- hub output ---\n${parts.hub?.service?.output() ?? ''}\n`);
  const stops = [() => parts.hub?.cleanup(), () => parts.link?.close(), () => parts.campus?.stop()];
  let failure: { error: unknown } | null = null;
  for (const stop of stops) {
    try {
      await stop();
    } catch (error) {
      failure ??= { error };
    }
  }
  rmSync(parts.work_dir, { recursive: true, force: true });
  if (failure !== null) throw failure.error;
}
