// A school's fleet of hubs (DESIGN section 6, "One owner per credit"; issue 8): each credit has
// one owning hub, set in the batch of the first page that hands it to the active hub; a standby
// gets cards only; only the owner's claims and void answers count, the rest are refused and kept
// for the card office; refunds go through the owner; hand-over by retiring or by declaring a hub
// dead; and the cursor guard with its snapshot for a hub restored from an old backup.
import { SELF, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type {
  AdminHub,
  ChangesResponse,
  ClaimsResponse,
  HubClaim,
  RetireConfirmResponse,
  SnapshotResponse,
  VoidsResponse,
} from '../../protocol/hub.ts';
import {
  ORIGIN,
  createSchool,
  creditRow,
  hubClaimOf,
  hubFetch,
  orderStatus,
  paidTopup,
  randomSuffix,
  registerHub,
  setHubState,
  syncFeed,
  type TestHub,
} from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

/** The distinct credits a feed handed over, in first-seen order. */
function creditIds(changes: ChangesResponse['changes']): string[] {
  return [...new Set(changes.flatMap((change) => (change.kind === 'credit' ? [change.credit_id] : [])))];
}

function claimOf(card_no: string, credit_ids: string[], amount_fen: number): HubClaim {
  return hubClaimOf(card_no, credit_ids, amount_fen);
}

async function sendClaims(hub: TestHub, claims: HubClaim[]): Promise<ClaimsResponse> {
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims });
  expect(response.status).toBe(200);
  return (await response.json()) as ClaimsResponse;
}

async function answerVoid(hub: TestHub, credit_id: string, result: 'voided' | 'already_claimed'): Promise<VoidsResponse> {
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/voids', { answers: [{ credit_id, result }] });
  expect(response.status).toBe(200);
  return (await response.json()) as VoidsResponse;
}

function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${ORIGIN}${path}`, { ...init, headers: { 'content-type': 'application/json', ...ADMIN_AUTH, ...(init.headers ?? {}) } });
}

async function refund(order_id: string): Promise<Response> {
  return admin(`/api/v1/admin/orders/${order_id}/refund`, { method: 'POST' });
}

async function hubView(hub_id: string): Promise<AdminHub> {
  const response = await admin(`/api/v1/admin/hubs/${hub_id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as AdminHub;
}

async function owner(credit_id: string): Promise<string | null> {
  return (await env.DB.prepare('SELECT owner_hub_id FROM credits WHERE id = ?').bind(credit_id).first<{ owner_hub_id: string | null }>())!
    .owner_hub_id;
}

/** A school with its active hub and a standby, as the card office registers them. */
async function fleet(prefix: string): Promise<{ school_id: string; active: TestHub; standby: TestHub }> {
  const school_id = await createSchool(prefix, ['F1', 'F2']);
  const active = await registerHub(school_id);
  const standby = await registerHub(school_id);
  return { school_id, active, standby };
}

describe('one owner per credit', () => {
  it('makes the first hub active and later ones standbys, and a standby gets cards but no credits', async () => {
    const { school_id, active, standby } = await fleet('own');
    expect((await hubView(active.hub_id)).state).toBe('active');
    expect((await hubView(standby.hub_id)).state).toBe('standby');
    const credit = await paidTopup(school_id, 'F1', 1_000);

    // The standby pulls first: it sees the school's cards, not the credit, and owns nothing.
    const seen_by_standby = await syncFeed(standby);
    expect(seen_by_standby.hub_state).toBe('standby');
    expect(seen_by_standby.changes.map((change) => change.kind)).toEqual(['card', 'card']);
    expect(await owner(credit.credit_id)).toBeNull();

    // The active hub's page hands it the credit and records it as owner in the same batch.
    const seen_by_active = await syncFeed(active);
    expect(seen_by_active.hub_state).toBe('active');
    expect(seen_by_active.changes.filter((change) => change.kind === 'credit')).toEqual([
      expect.objectContaining({ credit_id: credit.credit_id, amount_fen: 1_000, state: 'pending' }),
    ]);
    expect(await owner(credit.credit_id)).toBe(active.hub_id);
    const listed = (await (await admin(`/api/v1/admin/hubs?school_id=${school_id}`)).json()) as { hubs: AdminHub[] };
    expect(listed.hubs.map((hub) => [hub.hub_id, hub.state, hub.owned_pending_count, hub.owned_pending_fen]).sort()).toEqual(
      [
        [active.hub_id, 'active', 1, 1_000],
        [standby.hub_id, 'standby', 0, 0],
      ].sort(),
    );
  });

  it('refuses claims and void answers of a hub that does not own the credit, and shows them to the card office', async () => {
    const { school_id, active, standby } = await fleet('notown');
    const credit = await paidTopup(school_id, 'F1', 700);
    await syncFeed(active);

    const foreign = claimOf('F1', [credit.credit_id], 700);
    const answer = await sendClaims(standby, [foreign]);
    expect(answer.results).toEqual([{ claim_id: foreign.claim_id, status: 'rejected', code: 'not_owner', reason: expect.stringMatching(/does not own/) }]);
    expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'pending', claim_id: null });

    // The refund goes to the owner; the standby answering `voided` changes nothing.
    expect((await refund(credit.order_id)).status).toBe(202);
    const void_answer = await answerVoid(standby, credit.credit_id, 'voided');
    expect(void_answer.results).toEqual([{ credit_id: credit.credit_id, status: 'rejected', code: 'not_owner', reason: expect.any(String) }]);
    expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'pending' });
    expect(await orderStatus(credit.order_id)).toBe('paid');

    const claims_seen = (await (await admin('/api/v1/admin/claim-rejections?limit=200')).json()) as {
      rejections: { claim_id: string; hub_id: string; code: string }[];
    };
    expect(claims_seen.rejections.find((r) => r.claim_id === foreign.claim_id)).toMatchObject({ hub_id: standby.hub_id, code: 'not_owner' });
    const voids_seen = (await (await admin('/api/v1/admin/void-rejections?limit=200')).json()) as {
      rejections: { credit_id: string; hub_id: string; code: string; result: string }[];
    };
    expect(voids_seen.rejections.find((r) => r.credit_id === credit.credit_id)).toMatchObject({
      hub_id: standby.hub_id,
      code: 'not_owner',
      result: 'voided',
    });

    // The owner's answer is the one that counts.
    expect((await answerVoid(active, credit.credit_id, 'voided')).results[0]).toMatchObject({ status: 'accepted' });
    expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'voided' });
    // The money goes back through the provider next (this test's order is not at the gateway).
    const refund_row = await env.DB.prepare('SELECT state, route FROM refunds WHERE credit_id = ?').bind(credit.credit_id).first();
    expect(refund_row).toEqual({ state: 'provider_pending', route: 'hub' });
  });

  it('waits for the owner before refunding: the owner loading it first wins', async () => {
    const { school_id, active } = await fleet('rwait');
    const credit = await paidTopup(school_id, 'F2', 1_500);
    await syncFeed(active);
    const asked = await refund(credit.order_id);
    expect(asked.status).toBe(202);
    expect(await asked.json()).toMatchObject({ state: 'requested', route: 'hub' });
    // The owner receives the void request; the card was loaded before it arrived.
    const { changes } = await syncFeed(active);
    expect(changes).toEqual([expect.objectContaining({ kind: 'void', credit_id: credit.credit_id })]);
    expect((await sendClaims(active, [claimOf('F2', [credit.credit_id], 1_500)])).results[0]!.status).toBe('accepted');
    const again = await refund(credit.order_id);
    expect(again.status).toBe(409);
    expect(await orderStatus(credit.order_id)).toBe('paid');
  });
});

describe('hub states', () => {
  it('allows only the written transitions, and keeps each in the trail', async () => {
    const { active, standby } = await fleet('trans');
    const refused = async (hub_id: string, state: string) => {
      const response = await setHubState(hub_id, state);
      expect(response.status, `${state}`).toBe(409);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('hub_transition_not_allowed');
    };
    // Two active hubs could both take new credits.
    await refused(standby.hub_id, 'active');
    // Retired only after retiring and confirming drained.
    await refused(active.hub_id, 'retired');
    expect((await setHubState(active.hub_id, 'retiring')).status).toBe(200);
    await refused(active.hub_id, 'retired');
    await refused(active.hub_id, 'active');
    // The standby may take over once the old hub is no longer active.
    expect((await setHubState(standby.hub_id, 'active', 'new server')).status).toBe(200);
    expect((await setHubState(active.hub_id, 'dead', 'disk lost')).status).toBe(200);
    await refused(active.hub_id, 'active');
    const bad = await setHubState(active.hub_id, 'sleeping');
    expect(bad.status).toBe(400);
    const trail = (await (await admin(`/api/v1/admin/hubs/${active.hub_id}/state-events`)).json()) as {
      events: { from_state: string; to_state: string; reason: string }[];
    };
    expect(trail.events.map((e) => `${e.from_state}>${e.to_state}:${e.reason}`)).toEqual(['retiring>dead:disk lost', 'active>retiring:test']);
    expect(await hubView(active.hub_id)).toMatchObject({ state: 'dead', state_reason: 'disk lost' });
  });

  it('retires a hub: it is told, confirms drained, and its pending credits move to the new active hub', async () => {
    const { school_id, active: old_hub, standby: new_hub } = await fleet('retire');
    const kept = await paidTopup(school_id, 'F1', 300);
    const refunded = await paidTopup(school_id, 'F2', 400);
    const loaded = await paidTopup(school_id, 'F1', 500);
    await syncFeed(old_hub);
    expect((await refund(refunded.order_id)).status).toBe(202);

    // Not yet retiring: a confirmation is refused.
    const early = await hubFetch(old_hub, 'POST', '/api/v1/hub/retire-confirm', { outbox_depth: 0, open_reservations: 0 });
    expect(early.status).toBe(409);

    expect((await setHubState(old_hub.hub_id, 'retiring', 'server replaced')).status).toBe(200);
    // Paid while no hub is active: the retiring hub is not handed it.
    const fresh = await paidTopup(school_id, 'F2', 250);
    const retiring_view = await syncFeed(old_hub);
    expect(retiring_view.hub_state).toBe('retiring');
    expect(creditIds(retiring_view.changes)).toEqual([]);
    expect(await owner(fresh.credit_id)).toBeNull();
    expect((await setHubState(new_hub.hub_id, 'active', 'new server')).status).toBe(200);
    // The retiring hub hears it in its next page, drains (its last claim), and confirms.
    expect((await syncFeed(old_hub)).hub_state).toBe('retiring');
    expect((await sendClaims(old_hub, [claimOf('F1', [loaded.credit_id], 500)])).results[0]!.status).toBe('accepted');
    const confirmed = await hubFetch(old_hub, 'POST', '/api/v1/hub/retire-confirm', { outbox_depth: 0, open_reservations: 0 });
    expect(confirmed.status).toBe(200);
    expect((await confirmed.json()) as RetireConfirmResponse).toEqual({ hub_state: 'retiring', released_credits: 2, voided_credits: 1 });

    // The credit with a refund waiting was voided at once; the other goes to the new active hub.
    expect(await creditRow(refunded.credit_id)).toMatchObject({ state: 'voided' });
    const { changes } = await syncFeed(new_hub);
    // A credit may come twice (its first change and the re-emitted one): the hub applies both alike.
    expect(creditIds(changes).sort()).toEqual([kept.credit_id, fresh.credit_id].sort());
    expect(await owner(fresh.credit_id)).toBe(new_hub.hub_id);
    expect(await owner(kept.credit_id)).toBe(new_hub.hub_id);
    // The old hub cannot load it any more.
    const late = await sendClaims(old_hub, [claimOf('F1', [kept.credit_id], 300)]);
    expect(late.results[0]).toMatchObject({ status: 'rejected', code: 'not_owner' });
    expect((await sendClaims(new_hub, [claimOf('F1', [kept.credit_id], 300)])).results[0]!.status).toBe('accepted');
    expect((await setHubState(old_hub.hub_id, 'retired', 'drained')).status).toBe(200);
    expect(await hubView(old_hub.hub_id)).toMatchObject({ state: 'retired', owned_pending_count: 0, drained_at_ms: expect.any(Number) });
  });

  it('freezes a dead hub\'s credits: offered to nobody, refunds 409 credit_frozen, its own claims still count', async () => {
    const { school_id, active: dead, standby: next } = await fleet('dead');
    const frozen = await paidTopup(school_id, 'F1', 800);
    const synced_later = await paidTopup(school_id, 'F2', 200);
    await syncFeed(dead);
    expect((await setHubState(dead.hub_id, 'dead', 'server burnt')).status).toBe(200);
    expect((await setHubState(next.hub_id, 'active', 'take over')).status).toBe(200);

    const { changes } = await syncFeed(next);
    expect(changes.some((change) => change.kind === 'credit')).toBe(false);
    const refused = await refund(frozen.order_id);
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('credit_frozen');
    expect(body.error.message).toMatch(/dead/);
    expect(await hubView(dead.hub_id)).toMatchObject({ state: 'dead', owned_pending_count: 2, owned_pending_fen: 1_000 });
    // Its recovered store syncs a claim it had made: that still counts.
    expect((await sendClaims(dead, [claimOf('F2', [synced_later.credit_id], 200)])).results[0]!.status).toBe('accepted');
  });

  it('settles a frozen credit from the card: claimed with the office\'s decision, or released to the active hub', async () => {
    const { school_id, active: dead, standby: next } = await fleet('settle');
    const on_card = await paidTopup(school_id, 'F1', 600);
    const not_on_card = await paidTopup(school_id, 'F2', 900);
    await syncFeed(dead);
    // Not dead yet: nothing to settle.
    const early = await admin(`/api/v1/admin/credits/${on_card.credit_id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'claimed', evidence: 'x' }),
    });
    expect(early.status).toBe(409);
    expect((await setHubState(dead.hub_id, 'dead', 'gone')).status).toBe(200);
    expect((await setHubState(next.hub_id, 'active', 'take over')).status).toBe(200);

    const claimed = await admin(`/api/v1/admin/credits/${on_card.credit_id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'claimed', evidence: 'card read at the office: balance 6.00, serial 3 after the load', actor: '李老师' }),
    });
    expect(claimed.status).toBe(200);
    expect(await claimed.json()).toMatchObject({ decision: 'claimed', state: 'claimed', owner_hub_id: dead.hub_id, claim_id: `office-${on_card.credit_id}` });
    expect(await env.DB.prepare('SELECT proof_kind, hub_id, amount_fen FROM claims WHERE id = ?').bind(`office-${on_card.credit_id}`).first()).toEqual({
      proof_kind: 'office',
      hub_id: dead.hub_id,
      amount_fen: 600,
    });
    expect(await env.DB.prepare('SELECT actor, evidence FROM credit_settlements WHERE credit_id = ?').bind(on_card.credit_id).first()).toEqual({
      actor: '李老师',
      evidence: expect.stringMatching(/serial 3/),
    });

    const released = await admin(`/api/v1/admin/credits/${not_on_card.credit_id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'release', evidence: 'card read: balance unchanged, serial 5 = last load' }),
    });
    expect(released.status).toBe(200);
    expect(await released.json()).toMatchObject({ decision: 'release', state: 'pending', owner_hub_id: null });
    const { changes } = await syncFeed(next);
    expect(creditIds(changes)).toEqual([not_on_card.credit_id]);
    expect(await owner(not_on_card.credit_id)).toBe(next.hub_id);
    // Settling again: nothing left to settle.
    const twice = await admin(`/api/v1/admin/credits/${on_card.credit_id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'release', evidence: 'again' }),
    });
    expect(twice.status).toBe(409);
  });
});

describe('a hub restored from an old backup', () => {
  it('is refused a pull from below its durable cursor, changing nothing, and re-syncs from the snapshot', async () => {
    const school_id = await createSchool('restore', ['S1', 'S2', 'S3']);
    const hub = await registerHub(school_id);
    const loaded = await paidTopup(school_id, 'S1', 100);
    const refunded = await paidTopup(school_id, 'S2', 200);
    const waiting = await paidTopup(school_id, 'S3', 300);
    const asked = await paidTopup(school_id, 'S3', 400);
    const { cursor: backup_cursor } = await syncFeed(hub);
    // After the backup was taken: a load, a refund, a void request, a lost card.
    expect((await sendClaims(hub, [claimOf('S1', [loaded.credit_id], 100)])).results[0]!.status).toBe('accepted');
    expect((await refund(refunded.order_id)).status).toBe(202);
    await syncFeed(hub);
    expect((await answerVoid(hub, refunded.credit_id, 'voided')).results[0]!.status).toBe('accepted');
    expect((await refund(asked.order_id)).status).toBe(202);
    await env.DB.prepare("UPDATE cards SET status = 'lost' WHERE school_id = ? AND card_no = 'S2'").bind(school_id).run();
    const { cursor: durable } = await syncFeed(hub);
    expect(durable).toBeGreaterThan(backup_cursor);

    // Paid while the hub was being restored: the refused pull must not make the hub its owner.
    const meanwhile = await paidTopup(school_id, 'S1', 60);
    const hub_before = await env.DB.prepare('SELECT durable_cursor, last_cursor, sent_through_seq FROM hubs WHERE id = ?').bind(hub.hub_id).first();
    const regressed = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${backup_cursor}&limit=100`);
    expect(regressed.status).toBe(409);
    expect(((await regressed.json()) as { error: { code: string } }).error.code).toBe('hub_state_regressed');
    expect(await env.DB.prepare('SELECT durable_cursor, last_cursor, sent_through_seq FROM hubs WHERE id = ?').bind(hub.hub_id).first()).toEqual(hub_before);
    expect(await owner(meanwhile.credit_id)).toBeNull();

    // The snapshot, two credits a page: every credit the hub owns with its state now, then cards.
    const pages: SnapshotResponse[] = [];
    let path = `/api/v1/hub/snapshot?since=${backup_cursor}&limit=2`;
    for (let i = 0; i < 20; i++) {
      const response = await hubFetch(hub, 'GET', path);
      expect(response.status).toBe(200);
      const page = (await response.json()) as SnapshotResponse;
      expect(page.credits.length).toBeLessThanOrEqual(2);
      expect(page.cards.length).toBeLessThanOrEqual(2);
      pages.push(page);
      if (page.next_cursor === null) break;
      path = `/api/v1/hub/snapshot?cursor=${encodeURIComponent(page.next_cursor)}&limit=2`;
    }
    expect(pages.at(-1)!.next_cursor).toBeNull();
    expect(pages.length).toBeGreaterThan(2);
    const resume_after = pages[0]!.resume_after;
    expect(pages.every((page) => page.resume_after === resume_after && page.hub_state === 'active')).toBe(true);
    const credits = new Map(pages.flatMap((page) => page.credits).map((credit) => [credit.credit_id, credit]));
    // `meanwhile` is nobody's yet: not in the snapshot, it comes through the feed after resume_after.
    expect(credits.size).toBe(4);
    expect(credits.get(loaded.credit_id)).toMatchObject({ state: 'claimed', claim_id: expect.any(String), void_requested: false });
    expect(credits.get(refunded.credit_id)).toMatchObject({ state: 'voided', void_requested: false });
    expect(credits.get(waiting.credit_id)).toMatchObject({ state: 'pending', void_requested: false, amount_fen: 300 });
    expect(credits.get(asked.credit_id)).toMatchObject({ state: 'pending', void_requested: true });
    const cards = pages.flatMap((page) => page.cards);
    expect(cards).toEqual([expect.objectContaining({ kind: 'card', card_no: 'S2', status: 'lost' })]);

    // After the snapshot the feed resumes where it began, and what changed meanwhile is there.
    const later = await paidTopup(school_id, 'S1', 50);
    const resumed = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${resume_after}&limit=100`);
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as ChangesResponse).changes).toEqual([
      expect.objectContaining({ kind: 'credit', credit_id: meanwhile.credit_id, state: 'pending' }),
      expect.objectContaining({ kind: 'credit', credit_id: later.credit_id, state: 'pending' }),
    ]);
    expect(await owner(meanwhile.credit_id)).toBe(hub.hub_id);
    expect(await owner(later.credit_id)).toBe(hub.hub_id);
  });

  it('reports credits that moved away as moved, and refuses a cursor it did not issue', async () => {
    const { school_id, active: old_hub, standby: new_hub } = await fleet('moved');
    const credit = await paidTopup(school_id, 'F1', 250);
    await syncFeed(old_hub);
    expect((await setHubState(old_hub.hub_id, 'dead', 'gone')).status).toBe(200);
    expect((await setHubState(new_hub.hub_id, 'active', 'take over')).status).toBe(200);
    const released = await admin(`/api/v1/admin/credits/${credit.credit_id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'release', evidence: 'card read: not loaded' }),
    });
    expect(released.status).toBe(200);
    const snapshot = async (path: string) => (await (await hubFetch(old_hub, 'GET', path)).json()) as SnapshotResponse;
    let page = await snapshot('/api/v1/hub/snapshot?since=0&limit=10');
    const seen = [...page.credits];
    for (let i = 0; i < 5 && page.next_cursor !== null; i++) {
      page = await snapshot(`/api/v1/hub/snapshot?cursor=${encodeURIComponent(page.next_cursor)}&limit=10`);
      seen.push(...page.credits);
    }
    expect(seen).toEqual([expect.objectContaining({ credit_id: credit.credit_id, state: 'moved' })]);
    expect(page.hub_state).toBe('dead');
    const forged = await hubFetch(old_hub, 'GET', '/api/v1/hub/snapshot?cursor=x.1.2.3');
    expect(forged.status).toBe(400);
  });
});
