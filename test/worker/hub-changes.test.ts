// The changes feed a hub pulls (DESIGN section 6): its own school only, in sequence order, paged
// by cursor, each change joined to the current state of its credit or card.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChangesResponse, HubChange } from '../../protocol/hub.ts';
import { createSchool, hubFetch, paidTopup, registerHub, testAsn, type TestHub } from './helpers/hub.ts';

async function pull(hub: TestHub, after: number, limit: number): Promise<ChangesResponse> {
  const response = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${after}&limit=${limit}`);
  expect(response.status).toBe(200);
  return (await response.json()) as ChangesResponse;
}

/** Pages through the whole feed after `after` the way a hub does, bounded. */
async function pullAll(hub: TestHub, after: number, limit: number): Promise<{ changes: HubChange[]; pages: number; cursor: number }> {
  const changes: HubChange[] = [];
  let cursor = after;
  for (let pages = 1; pages <= 50; pages++) {
    const page = await pull(hub, cursor, limit);
    changes.push(...page.changes);
    expect(page.changes.length).toBeLessThanOrEqual(limit);
    cursor = page.next_after;
    if (!page.has_more) return { changes, pages, cursor };
  }
  throw new Error('feed did not end');
}

/** Where the hub stands: a pull from below its durable cursor is refused (it would have lost state). */
async function durableCursor(hub: TestHub): Promise<number> {
  const row = await env.DB.prepare('SELECT durable_cursor FROM hubs WHERE id = ?').bind(hub.hub_id).first<{ durable_cursor: number | null }>();
  return row?.durable_cursor ?? 0;
}

describe('GET /api/v1/hub/changes', () => {
  let school_id: string;
  let hub: TestHub;
  let other_hub: TestHub;

  beforeAll(async () => {
    school_id = await createSchool('feed', ['C1', 'C2', 'C3']);
    hub = await registerHub(school_id);
    other_hub = await registerHub(await createSchool('feedother', ['Z1']));
  });

  it('gives the school its cards and credits in order, page by page, and nothing of other schools', async () => {
    const a = await paidTopup(school_id, 'C1', 10_000);
    await paidTopup(other_hub.school_id, 'Z1', 777);
    const b = await paidTopup(school_id, 'C2', 2_500);
    const c = await paidTopup(school_id, 'C1', 50);

    const { changes, pages } = await pullAll(hub, 0, 2);
    expect(pages).toBe(3);
    const seqs = changes.map((change) => change.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(changes.map((change) => (change.kind === 'card' ? `card:${change.card_no}` : `${change.kind}:${change.card_no}`))).toEqual([
      'card:C1',
      'card:C2',
      'card:C3',
      'credit:C1',
      'credit:C2',
      'credit:C1',
    ]);
    const credits = changes.filter((change) => change.kind === 'credit');
    expect(credits).toEqual([
      expect.objectContaining({ credit_id: a.credit_id, order_id: a.order_id, amount_fen: 10_000, state: 'pending' }),
      expect.objectContaining({ credit_id: b.credit_id, order_id: b.order_id, amount_fen: 2_500, state: 'pending' }),
      expect.objectContaining({ credit_id: c.credit_id, order_id: c.order_id, amount_fen: 50, state: 'pending' }),
    ]);
    // Each card change carries the chip's asn, from which the hub derives the card's keys.
    expect(changes.slice(0, 3)).toEqual([
      expect.objectContaining({ kind: 'card', card_no: 'C1', status: 'active', card_kind: 'student', asn: testAsn(0) }),
      expect.objectContaining({ kind: 'card', card_no: 'C2', asn: testAsn(1) }),
      expect.objectContaining({ kind: 'card', card_no: 'C3', asn: testAsn(2) }),
    ]);

    const other = await pullAll(other_hub, 0, 100);
    expect(other.changes.every((change) => change.card_no === 'Z1')).toBe(true);
    expect(other.changes.some((change) => change.kind === 'credit' && change.amount_fen === 777)).toBe(true);
  });

  it('answers an empty page with the same cursor, then only what is new', async () => {
    const { cursor } = await pullAll(hub, await durableCursor(hub), 1000);
    const empty = await pull(hub, cursor, 10);
    expect(empty).toEqual({ hub_state: 'active', changes: [], next_after: cursor, has_more: false });

    await env.DB.prepare("UPDATE cards SET status = 'lost' WHERE school_id = ? AND card_no = 'C3'").bind(school_id).run();
    const d = await paidTopup(school_id, 'C2', 300);
    const next = await pull(hub, cursor, 10);
    expect(next.changes).toEqual([
      expect.objectContaining({ kind: 'card', card_no: 'C3', status: 'lost' }),
      expect.objectContaining({ kind: 'credit', credit_id: d.credit_id, amount_fen: 300, state: 'pending' }),
    ]);
    expect(next.next_after).toBe(next.changes.at(-1)!.seq);
  });

  it('tells the hub when a card gets a new chip or another kind, and never an asn of the wrong form', async () => {
    const { cursor } = await pullAll(hub, await durableCursor(hub), 1000);
    await env.DB.prepare("UPDATE cards SET asn = 'B0000000000000C2' WHERE school_id = ? AND card_no = 'C2'").bind(school_id).run();
    await env.DB.prepare("UPDATE cards SET kind = 'staff' WHERE school_id = ? AND card_no = 'C1'").bind(school_id).run();
    // Written past the registry import (which refuses it): the feed withholds it all the same.
    await env.DB.prepare("UPDATE cards SET asn = 'not-hex' WHERE school_id = ? AND card_no = 'C3'").bind(school_id).run();
    const next = await pull(hub, cursor, 10);
    expect(next.changes).toEqual([
      expect.objectContaining({ kind: 'card', card_no: 'C2', asn: 'B0000000000000C2' }),
      expect.objectContaining({ kind: 'card', card_no: 'C1', card_kind: 'staff', asn: testAsn(0) }),
      expect.objectContaining({ kind: 'card', card_no: 'C3', asn: null }),
    ]);
    // An unchanged value is no change.
    await env.DB.prepare("UPDATE cards SET asn = 'B0000000000000C2', kind = 'student' WHERE school_id = ? AND card_no = 'C2'").bind(school_id).run();
    expect((await pull(hub, next.next_after, 10)).changes).toEqual([]);
    await env.DB.prepare("UPDATE cards SET asn = ? WHERE school_id = ? AND card_no = 'C3'").bind(testAsn(2), school_id).run();
  });

  it('records the cursor the hub holds and how far the Worker has sent', async () => {
    const school = await createSchool('feedcursor', ['R1']);
    const fresh = await registerHub(school);
    await paidTopup(school, 'R1', 100);
    const first = await pull(fresh, 0, 2);
    const row = await env.DB.prepare('SELECT last_cursor, durable_cursor, sent_through_seq, last_seen_at_ms FROM hubs WHERE id = ?')
      .bind(fresh.hub_id)
      .first<{ last_cursor: number; durable_cursor: number; sent_through_seq: number; last_seen_at_ms: number }>();
    expect(row).toMatchObject({ last_cursor: 0, durable_cursor: 0, sent_through_seq: first.next_after });
    await pull(fresh, first.next_after, 1);
    const after = await env.DB.prepare('SELECT last_cursor, durable_cursor FROM hubs WHERE id = ?').bind(fresh.hub_id).first();
    expect(after).toEqual({ last_cursor: first.next_after, durable_cursor: first.next_after });
  });

  it('raises sent_through_seq over exactly the rows it returned', async () => {
    const school = await createSchool('feedmark', ['M1']);
    const fresh = await registerHub(school);
    await paidTopup(school, 'M1', 100);
    await paidTopup(school, 'M1', 200);
    const page = await pull(fresh, 0, 2);
    expect(page.has_more).toBe(true);
    const row = await env.DB.prepare('SELECT sent_through_seq FROM hubs WHERE id = ?').bind(fresh.hub_id).first();
    expect(row).toEqual({ sent_through_seq: page.next_after });
  });
});
