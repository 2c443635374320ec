// The card office hands a school's hubs over from the console (issue 10 meets issue 8): the hubs
// page reads the real state, lag and owned credits; a state change and a frozen credit's
// settlement go through the same fleet and ledger functions as the admin routes, behind the
// console's gate and school scope, each with one audit row in the batch of the change.
import { env } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConsoleHub, ConsoleHubsResponse } from '../../protocol/console.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { auditRows, consoleFetch, consoleJson, operatorSession, type TestSession } from './helpers/console.ts';
import { createSchool, creditRow, hubFetch, paidTopup, registerHub, syncFeed } from './helpers/hub.ts';

afterAll(expectLedgerClean);

async function hubsOf(session: TestSession, school_id: string): Promise<Map<string, ConsoleHub>> {
  const body = await consoleJson<ConsoleHubsResponse>(session, 'GET', `/hubs?school_id=${school_id}`);
  return new Map(body.hubs.map((hub) => [hub.hub_id, hub]));
}

function changeState(session: TestSession | null, hub_id: string, state: string, reason = '服务器更换', options: { csrf?: boolean } = {}): Promise<Response> {
  return consoleFetch(session, 'POST', `/hubs/${hub_id}/state`, { body: { state, reason }, ...options });
}

function settle(session: TestSession | null, credit_id: string, body: unknown, options: { csrf?: boolean } = {}): Promise<Response> {
  return consoleFetch(session, 'POST', `/credits/${credit_id}/settle`, { body, ...options });
}

async function hubRow(hub_id: string) {
  return env.DB.prepare('SELECT state, state_reason, state_changed_at_ms, drained_at_ms FROM hubs WHERE id = ?').bind(hub_id).first();
}

async function expectCode(response: Response, status: number, code: string): Promise<void> {
  expect(response.status, await response.clone().text()).toBe(status);
  expect(await response.json()).toMatchObject({ error: { code } });
}

describe('hubs page', () => {
  it('shows each hub’s real state, lag, owned credits and where it may go', async () => {
    const school_id = await createSchool('chr', ['20250001', '20250002']);
    const first = await registerHub(school_id);
    const second = await registerHub(school_id);
    await paidTopup(school_id, '20250001', 1_200);
    await paidTopup(school_id, '20250002', 800);
    const clerk = await operatorSession([school_id]);
    const before = await hubsOf(clerk, school_id);
    expect(before.get(first.hub_id)).toMatchObject({ state: 'active', pending_credits_owned: 0, transitions: ['retiring', 'dead'] });
    expect(before.get(first.hub_id)!.sync_lag).toBeGreaterThan(0);
    await syncFeed(first);
    const after = await hubsOf(clerk, school_id);
    expect(after.get(first.hub_id)).toMatchObject({ state: 'active', sync_lag: 0, pending_credits_owned: 2, pending_owned_fen: 2_000, frozen_credits: [] });
    expect(after.get(first.hub_id)!.last_seen_at_ms).not.toBeNull();
    expect(after.get(first.hub_id)!.durable_cursor).toBe(after.get(first.hub_id)!.feed_head_seq);
    expect(after.get(second.hub_id)).toMatchObject({ state: 'standby', pending_credits_owned: 0, transitions: ['active', 'retired', 'dead'], last_seen_at_ms: null });
  });
});

describe('hub state from the console', () => {
  it('refuses the signed out, a missing CSRF token and another school’s operator, and changes nothing', async () => {
    const school_id = await createSchool('chg', ['20250011']);
    const hub = await registerHub(school_id);
    const other = await createSchool('cho', ['20250012']);
    const clerk = await operatorSession([school_id]);
    const stranger = await operatorSession([other]);
    const row = await hubRow(hub.hub_id);
    await expectCode(await changeState(null, hub.hub_id, 'retiring'), 401, 'unauthorized');
    await expectCode(await changeState(clerk, hub.hub_id, 'retiring', 'x', { csrf: false }), 403, 'csrf_refused');
    await expectCode(await changeState(stranger, hub.hub_id, 'retiring'), 404, 'hub_not_found');
    await expectCode(await changeState(clerk, 'no-such-hub', 'retiring'), 404, 'hub_not_found');
    expect(await hubRow(hub.hub_id)).toEqual(row);
    expect(await auditRows(school_id)).toEqual([]);
  });

  it('refuses a transition the fleet rules refuse with 409 and no audit row', async () => {
    const school_id = await createSchool('chx', ['20250021']);
    const hub = await registerHub(school_id);
    const standby = await registerHub(school_id);
    const clerk = await operatorSession([school_id]);
    const row = await hubRow(hub.hub_id);
    // active → retired skips retiring; a second active hub is refused while the first is active.
    await expectCode(await changeState(clerk, hub.hub_id, 'retired'), 409, 'hub_transition_not_allowed');
    await expectCode(await changeState(clerk, standby.hub_id, 'active'), 409, 'hub_transition_not_allowed');
    expect(await hubRow(hub.hub_id)).toEqual(row);
    expect((await hubRow(standby.hub_id))?.state).toBe('standby');
    expect(await auditRows(school_id)).toEqual([]);
  });

  it('retires the active hub, marks it retired once drained, activates the standby: one audit row each', async () => {
    const school_id = await createSchool('chs', ['20250031']);
    const old_hub = await registerHub(school_id);
    const new_hub = await registerHub(school_id);
    const paid = await paidTopup(school_id, '20250031', 1_500);
    await syncFeed(old_hub);
    const clerk = await operatorSession([school_id]);

    const retiring = await consoleJson<ConsoleHub>(clerk, 'POST', `/hubs/${old_hub.hub_id}/state`, { state: 'retiring', reason: '服务器更换' });
    expect(retiring).toMatchObject({ state: 'retiring', state_reason: '服务器更换', drained_at_ms: null, transitions: ['retired', 'dead'] });
    // Not drained yet: retired is refused and nothing is recorded for it.
    await expectCode(await changeState(clerk, old_hub.hub_id, 'retired'), 409, 'hub_transition_not_allowed');
    expect(await auditRows(school_id)).toHaveLength(1);

    const confirmed = await hubFetch(old_hub, 'POST', '/api/v1/hub/retire-confirm', { outbox_depth: 0, open_reservations: 0 });
    expect(confirmed.status, await confirmed.clone().text()).toBe(200);
    const drained = (await hubsOf(clerk, school_id)).get(old_hub.hub_id)!;
    expect(drained.drained_at_ms).not.toBeNull();
    expect(drained.pending_credits_owned).toBe(0);

    expect(await consoleJson<ConsoleHub>(clerk, 'POST', `/hubs/${old_hub.hub_id}/state`, { state: 'retired', reason: '已清空' })).toMatchObject({ state: 'retired', transitions: [] });
    expect(await consoleJson<ConsoleHub>(clerk, 'POST', `/hubs/${new_hub.hub_id}/state`, { state: 'active', reason: '新服务器上线' })).toMatchObject({ state: 'active' });
    // The new active hub is handed the released credit and owns it.
    await syncFeed(new_hub);
    const hubs = await hubsOf(clerk, school_id);
    expect(hubs.get(old_hub.hub_id)?.state).toBe('retired');
    expect(hubs.get(new_hub.hub_id)).toMatchObject({ state: 'active', pending_credits_owned: 1, pending_owned_fen: 1_500 });
    expect((await creditRow(paid.credit_id))?.state).toBe('pending');

    const rows = await auditRows(school_id);
    expect(rows.map((r) => [r.operator_id, r.action, r.target, JSON.parse(r.before_json!), JSON.parse(r.after_json!)])).toEqual([
      [clerk.operator_id, 'hub_state', old_hub.hub_id, { state: 'active' }, { state: 'retiring', reason: '服务器更换' }],
      [clerk.operator_id, 'hub_state', old_hub.hub_id, { state: 'retiring' }, { state: 'retired', reason: '已清空' }],
      [clerk.operator_id, 'hub_state', new_hub.hub_id, { state: 'standby' }, { state: 'active', reason: '新服务器上线' }],
    ]);
    // The fleet's own trail agrees with the console's.
    const events = await env.DB.prepare('SELECT COUNT(*) AS n FROM hub_state_events WHERE school_id = ?').bind(school_id).first<{ n: number }>();
    expect(events?.n).toBe(3);
  });
});

describe('frozen credits of a dead hub', () => {
  async function deadHubWithCredits() {
    const school_id = await createSchool('chd', ['20250041', '20250042']);
    const dead = await registerHub(school_id);
    const standby = await registerHub(school_id);
    const loaded = await paidTopup(school_id, '20250041', 1_000);
    const unloaded = await paidTopup(school_id, '20250042', 600);
    await syncFeed(dead);
    const clerk = await operatorSession([school_id]);
    await consoleJson<ConsoleHub>(clerk, 'POST', `/hubs/${dead.hub_id}/state`, { state: 'dead', reason: '硬盘损坏' });
    return { school_id, dead, standby, loaded, unloaded, clerk };
  }

  it('lists them on the hubs page and settles each through the ledger, the operator the actor', async () => {
    const { school_id, dead, standby, loaded, unloaded, clerk } = await deadHubWithCredits();
    const view = (await hubsOf(clerk, school_id)).get(dead.hub_id)!;
    expect(view).toMatchObject({ state: 'dead', pending_credits_owned: 2, pending_owned_fen: 1_600 });
    expect(view.frozen_credits.map((c) => [c.credit_id, c.card_no, c.amount_fen])).toEqual([
      [loaded.credit_id, '20250041', 1_000],
      [unloaded.credit_id, '20250042', 600],
    ]);

    const claimed = await consoleJson<{ state: string; claim_id: string | null }>(clerk, 'POST', `/credits/${loaded.credit_id}/settle`, { decision: 'claimed', evidence: '读卡：余额 10.00，序号 7' });
    expect(claimed).toMatchObject({ state: 'claimed', claim_id: `office-${loaded.credit_id}` });
    await consoleJson(clerk, 'POST', `/hubs/${standby.hub_id}/state`, { state: 'active', reason: '接替' });
    const released = await consoleJson<{ state: string; owner_hub_id: string | null }>(clerk, 'POST', `/credits/${unloaded.credit_id}/settle`, { decision: 'release', evidence: '读卡：余额 0.00' });
    expect(released).toMatchObject({ state: 'pending', owner_hub_id: null });
    // Settled once: a second try is refused and records nothing.
    await expectCode(await settle(clerk, unloaded.credit_id, { decision: 'claimed', evidence: 'again' }), 409, 'conflict');

    const settlements = await env.DB.prepare('SELECT credit_id, decision, actor FROM credit_settlements WHERE school_id = ? ORDER BY settled_at_ms').bind(school_id).all();
    expect(settlements.results).toEqual([
      { credit_id: loaded.credit_id, decision: 'claimed', actor: `operator:${clerk.operator_id}` },
      { credit_id: unloaded.credit_id, decision: 'release', actor: `operator:${clerk.operator_id}` },
    ]);
    expect((await hubsOf(clerk, school_id)).get(dead.hub_id)).toMatchObject({ pending_credits_owned: 0, frozen_credits: [] });
    const rows = (await auditRows(school_id)).filter((r) => r.action === 'credit_settle');
    expect(rows.map((r) => [r.target, JSON.parse(r.before_json!), JSON.parse(r.after_json!)])).toEqual([
      [loaded.credit_id, { state: 'pending', owner_hub_id: dead.hub_id }, { decision: 'claimed', evidence: '读卡：余额 10.00，序号 7' }],
      [unloaded.credit_id, { state: 'pending', owner_hub_id: dead.hub_id }, { decision: 'release', evidence: '读卡：余额 0.00' }],
    ]);
  });

  it('refuses the signed out, a missing CSRF token, another school and a credit that is not frozen, changing nothing', async () => {
    const { school_id, loaded, clerk } = await deadHubWithCredits();
    const other = await createSchool('chq', ['20250051']);
    const live_hub = await registerHub(other);
    const live = await paidTopup(other, '20250051', 300);
    await syncFeed(live_hub);
    const stranger = await operatorSession([other]);
    const body = { decision: 'release', evidence: '读卡：余额 0.00' };
    await expectCode(await settle(null, loaded.credit_id, body), 401, 'unauthorized');
    await expectCode(await settle(clerk, loaded.credit_id, body, { csrf: false }), 403, 'csrf_refused');
    await expectCode(await settle(stranger, loaded.credit_id, body), 404, 'not_found');
    // Its owner is alive: the admin route's rule, the same answer.
    await expectCode(await settle(stranger, live.credit_id, body), 409, 'conflict');
    await expectCode(await settle(clerk, loaded.credit_id, { decision: 'release', evidence: '   ' }), 400, 'invalid_body');
    expect((await creditRow(loaded.credit_id))?.state).toBe('pending');
    expect(await env.DB.prepare('SELECT COUNT(*) AS n FROM credit_settlements WHERE school_id IN (?, ?)').bind(school_id, other).first()).toEqual({ n: 0 });
    expect((await auditRows(school_id)).filter((r) => r.action === 'credit_settle')).toEqual([]);
    expect(await auditRows(other)).toEqual([]);
  });
});
