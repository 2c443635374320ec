// The hub against the real Worker (`wrangler dev` with its local D1, the simulated gateway),
// started the way `npm start` starts them: money paid on a phone becomes claimable at the hub
// through the push channel, is loaded at a swipe and is `claimed` at the Worker; the campus
// link goes down and swipes go on; refunds go through the hub's void; grey records reach the
// card office; a claim the Worker rejects becomes a grey record; the hub with a key the Worker
// does not know keeps serving and says so; the Worker refuses unsigned, stale and replayed hub
// requests. Cards are personalised chips with the demo registry's asns: their balances are summed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSigner, importPrivateKeyPem } from '../../hub/sync/signer.ts';
import { readFileSync } from 'node:fs';
import { auditLocalD1 } from '../../scripts/audit.ts';
import { executeLocalSql, sqlLiteral } from '../../scripts/lib/local-d1.ts';
import type { Campus } from '../../scripts/start.ts';
import { DEMO_CARDS } from '../../sim/demo-campus.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { DEATH_POINTS, type DeathPoint, type Terminal } from '../../sim/pos/terminal.ts';
import { seededRandom } from '../helpers/random.ts';
import { adminRequest, CARDS, enrolHub, SCHOOL, startTestCampus, stopCampusTest, until, untilCaughtUp, WAIT_MS } from './helpers/campus.ts';
import { HubHarness, type RegisteredTerminal } from './helpers/hub.ts';
import { Link } from './helpers/link.ts';
import { payTopUp, recharge, waitForStatus } from './helpers/payer.ts';

const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-hubsync-'));
const state_dir = path.join(work_dir, 'state');
const HUB_ID = 'bjtu-hub-1';
const { zhang: ZHANG, li: LI, wang: WANG } = CARDS;
const GREY_AFTER_MS = 1_500;

let campus: Campus;
let link: Link;
let hub: HubHarness;
let terminal: Terminal;
let canteen: RegisteredTerminal;

// One chip per card for the whole file, as in a wallet: the hub remembers each card's serial,
// and a chip that jumped ahead of it would be frozen as a card with loads the hub forgot.
const wallet = new Map<string, PurseCard>();
/** A demo card's chip (personalised from this hub's master keys with its registered asn), made once. */
function chip(card_no: string, state: { balance_fen: number; online_serial: number }): PurseCard {
  const card = DEMO_CARDS.find((demo) => demo.card_no === card_no);
  if (card === undefined) throw new Error(`no demo card ${card_no}`);
  let held = wallet.get(card_no);
  if (held === undefined) {
    held = hub.card(card_no, state, card.asn);
    wallet.set(card_no, held);
  }
  return held;
}

function admin(method: string, pathname: string, body?: unknown): Promise<Response> {
  return adminRequest(campus, method, pathname, body);
}

async function creditState(order_id: string): Promise<string | undefined> {
  const [rows] = await executeLocalSql(state_dir, `SELECT state FROM credits WHERE order_id = ${sqlLiteral(order_id)}`);
  return rows?.[0]?.state as string | undefined;
}

beforeAll(async () => {
  campus = await startTestCampus(work_dir, { notify_retry_schedule_ms: [0, 1_000, 2_000] });
  link = new Link(Number(new URL(campus.worker_url).port));
  const via_link = await link.open();
  // Polling twice a minute: a credit claimable within seconds came through the push channel.
  hub = new HubHarness({ worker_url: via_link, hub_id: HUB_ID, poll_interval_ms: 30_000, backoff_max_ms: 400, grey_after_ms: GREY_AFTER_MS });
  canteen = await enrolHub(campus, hub, 'canteen-1');
  await hub.start();
  terminal = hub.terminal(canteen);
  // The first pull brings the school's card registry.
  await untilCaughtUp(hub, { push: true });
}, 240_000);

afterAll(() => stopCampusTest({ hub, link, campus, work_dir }), 60_000);

describe('hub and Worker', () => {
  let zhang: PurseCard;

  it('pay → claimable at the hub within seconds (push channel) → swipe → commit → claimed at the Worker', async () => {
    zhang = chip(ZHANG.card_no, { balance_fen: 1_282, online_serial: 9 });
    const { order_id } = await payTopUp(campus.worker_url, ZHANG, 10_000);
    // Polling is every 30 s and this waits at most 20: the credit came through the push channel.
    const offer = await until('load offered', async () => {
      const tap = await terminal.tap(ZHANG.card_no, zhang);
      return tap.load === null ? null : tap;
    });
    expect(offer.load).toMatchObject({ amount_fen: 10_000, balance_after_fen: 11_282, online_serial_after: 10 });
    expect(offer.committed?.status).toBe('committed');
    expect([zhang.balance_fen, zhang.online_serial]).toEqual([11_282, 10]);
    const claimed = await waitForStatus(campus.worker_url, order_id, 'claimed', WAIT_MS);
    expect(claimed.claimed_at).toEqual(expect.any(Number));
    expect(await creditState(order_id)).toBe('claimed');
    await until('outbox drained', async () => (await hub.health()).outbox_depth === 0);
    // The chip balance seen at the swipe reaches the Worker as the card's balance.
    const lookup = await fetch(`${campus.worker_url}/api/v1/cards/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ZHANG),
    });
    expect(lookup.status).toBe(200);
    const card = await until('card report applied', async () => {
      const response = await fetch(`${campus.worker_url}/api/v1/cards/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ZHANG),
      });
      const body = (await response.json()) as { balance_fen: number; pending_fen: number };
      return body.balance_fen === 11_282 ? body : null;
    });
    expect(card.pending_fen).toBe(0);
    // And the card's own records say so.
    const token = ((await lookup.json()) as { card_token: string }).card_token;
    const records = (await (await fetch(`${campus.worker_url}/api/v1/recharges?card_token=${encodeURIComponent(token)}`)).json()) as {
      records: { order_id: string; status: string }[];
    };
    expect(records.records.find((record) => record.order_id === order_id)?.status).toBe('claimed');
  });

  it('refuses a lost card at the POS', async () => {
    const lost = chip('20230003', { balance_fen: 500, online_serial: 2 });
    expect((await terminal.tap('20230003', lost)).swipe).toMatchObject({ card_status: 'lost', offer_fen: 0 });
    expect(lost.balance_fen).toBe(500);
  });

  it('campus link down: swipes go on, the outbox waits, and drains when the link returns', async () => {
    const { order_id } = await payTopUp(campus.worker_url, LI, 2_500);
    const li = chip(LI.card_no, { balance_fen: 0, online_serial: 0 });
    // Wait until the hub holds the credit, without loading it yet.
    await until('credit at the hub', async () => ((await hub.health()).pending_credits as number) >= 1);
    link.cut();
    const tap = await terminal.tap(LI.card_no, li);
    expect(tap.load?.amount_fen).toBe(2_500);
    expect(tap.committed?.status).toBe('committed');
    expect([li.balance_fen, li.online_serial]).toEqual([2_500, 1]);
    expect((await hub.health()).outbox_depth).toBe(1);
    await until('health degraded', async () => (await hub.health()).status === 'degraded');
    expect((await recharge(campus.worker_url, order_id)).status).toBe('pending_claim');
    await until('push channel down with the link', async () => (await hub.health()).push_connected === false);
    link.restore();
    await waitForStatus(campus.worker_url, order_id, 'claimed', WAIT_MS);
    // And the push channel reconnects by itself.
    await until('push channel back', async () => (await hub.health()).push_connected === true);
    await until('outbox drained', async () => (await hub.health()).outbox_depth === 0);
    await until('health ok again', async () => (await hub.health()).status === 'ok');
  });

  it('refund of a pending credit goes through the hub void; refused once claimed', async () => {
    const { order_id } = await payTopUp(campus.worker_url, WANG, 3_300);
    await until('credit at the hub', async () => ((await hub.health()).pending_credits as number) >= 1);
    const refund = await admin('POST', `/api/v1/admin/orders/${order_id}/refund`);
    // The credit is at the hub, so the refund waits for the hub's void: 202, route "hub".
    expect(refund.status).toBe(202);
    expect(await refund.json()).toMatchObject({ state: 'requested', route: 'hub' });
    await waitForStatus(campus.worker_url, order_id, 'refunded', WAIT_MS);
    expect(await creditState(order_id)).toBe('voided');
    // The card gets nothing for it.
    const wang = chip(WANG.card_no, { balance_fen: 0, online_serial: 0 });
    expect((await terminal.tap(WANG.card_no, wang)).swipe).toMatchObject({ pending_fen: 0, offer_fen: 0 });
    expect(wang.balance_fen).toBe(0);

    const claimed = await payTopUp(campus.worker_url, ZHANG, 1_000);
    await until('loaded', async () => ((await terminal.tap(ZHANG.card_no, zhang)).load === null ? null : true));
    await waitForStatus(campus.worker_url, claimed.order_id, 'claimed', WAIT_MS);
    const refused = await admin('POST', `/api/v1/admin/orders/${claimed.order_id}/refund`);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('refund_not_allowed');
  });

  it('a reservation whose card never comes back is a grey record at the Worker until the card settles it', async () => {
    await payTopUp(campus.worker_url, WANG, 4_400);
    const wang = chip(WANG.card_no, { balance_fen: 0, online_serial: 0 });
    const before = { balance_fen: wang.balance_fen, online_serial: wang.online_serial };
    const died = await until('load reserved', async () => {
      const tap = await terminal.tap(WANG.card_no, wang, 'after_mac2');
      return tap.load === null ? null : tap;
    });
    const claim_id = died.load!.claim_id;
    const open = await until('grey record at the Worker', async () => {
      const response = await admin('GET', `/api/v1/admin/grey-records?status=open&school_id=${SCHOOL}`);
      const body = (await response.json()) as { records: { claim_id: string; amount_fen: number; status: string }[] };
      return body.records.find((record) => record.claim_id === claim_id) ?? null;
    });
    expect(open).toMatchObject({ amount_fen: 4_400, status: 'open' });
    // The card comes back to the same terminal: its verified serial says not written, so
    // the reservation is released and loaded afresh.
    const again = await terminal.tap(WANG.card_no, wang);
    expect(again.load?.amount_fen).toBe(4_400);
    expect([wang.balance_fen, wang.online_serial]).toEqual([before.balance_fen + 4_400, before.online_serial + 1]);
    await until('grey record resolved', async () => {
      const response = await admin('GET', `/api/v1/admin/grey-records?status=resolved&school_id=${SCHOOL}`);
      const body = (await response.json()) as { records: { claim_id: string }[] };
      return body.records.some((record) => record.claim_id === claim_id);
    });
  });

  it('the ledger audit is clean and the Worker agrees with the hub', async () => {
    await until('outbox drained', async () => (await hub.health()).outbox_depth === 0);
    const report = await auditLocalD1(state_dir);
    expect(report.violations).toEqual([]);
    const committed = hub.query<{ claim_id: string }>("SELECT claim_id FROM claims WHERE state = 'committed' ORDER BY claim_id");
    const [worker_claims] = await executeLocalSql(state_dir, `SELECT id FROM claims WHERE hub_id = ${sqlLiteral(HUB_ID)} ORDER BY id`);
    expect(worker_claims!.map((row) => row.id)).toEqual(committed.map((row) => row.claim_id));
  });
});

describe('hub crashes with the Worker', () => {
  it('SIGKILLed at random points during swipes and commits, restarted: audit clean, every paid top-up on its card once, Worker agrees', async () => {
    const cards = [
      { school_id: SCHOOL, name: '张三', card_no: '20230001' },
      { school_id: SCHOOL, name: '李小红', card_no: '20230002' },
      { school_id: SCHOOL, name: '王老师', card_no: 'T1001' },
      { school_id: SCHOOL, name: '访客', card_no: '999' },
      { school_id: SCHOOL, name: '赵六', card_no: 'F000999' },
    ];
    const chips = new Map(cards.map((card) => [card.card_no, chip(card.card_no, { balance_fen: 0, online_serial: 100 })]));
    const start_fen = new Map([...chips].map(([card_no, card]) => [card_no, card.balance_fen]));
    // Seed printed; YIKATONG_TEST_SEED replays the schedule.
    const random = seededRandom('sync.test crashes').next;
    const paid = new Map<string, { card_no: string; amount_fen: number }>();
    const pay = async (round: number) => {
      for (const card of cards) {
        const amount_fen = 100 * (round + 1) + card.card_no.length;
        const { order_id } = await payTopUp(campus.worker_url, card, amount_fen);
        paid.set(order_id, { card_no: card.card_no, amount_fen });
      }
    };
    await pay(0);
    const shop = await hub.addTerminal('shop-2');
    const registered = [canteen, shop];
    const seqs = new Map([['canteen-1', terminal.txn_seq], ['shop-2', 0]]);
    terminal.close();
    const deaths: DeathPoint[] = ['none', 'none', ...DEATH_POINTS.slice(1)];
    let interrupted = 0;
    for (let round = 0; round < 3; round++) {
      let alive = true;
      let completed = 0;
      const busy = new Set<string>();
      const terminals = registered.map((reg) => hub.terminal(reg, seqs.get(reg.terminal_id)!));
      const work = terminals.map(async (t) => {
        for (let taps = 0; alive && taps < 500; taps++) {
          const free = cards.filter((card) => !busy.has(card.card_no));
          const card = free[Math.floor(random() * free.length)];
          if (card === undefined) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            continue;
          }
          busy.add(card.card_no);
          try {
            await t.tap(card.card_no, chips.get(card.card_no)!, deaths[Math.floor(random() * deaths.length)]!);
            completed += 1;
          } catch (error) {
            // Only the kill may stop a tap: a refusal, a card error or a bug fails the test.
            const code = (error as { code?: string }).code;
            if (!(code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || (error as Error).message === 'socket hang up')) throw error;
            interrupted += 1;
          } finally {
            busy.delete(card.card_no);
          }
        }
      });
      await until('taps flowing', async () => completed >= terminals.length);
      await new Promise((resolve) => setTimeout(resolve, random() * 300));
      await hub.kill();
      alive = false;
      await Promise.all(work);
      for (const t of terminals) {
        seqs.set(t.terminal_id, t.txn_seq);
        t.close();
      }
      // Paid while the hub is down: it must pick these up after the restart.
      await pay(round + 1);
      await hub.start();
    }
    expect(interrupted).toBeGreaterThan(0);
    const [latest] = await executeLocalSql(state_dir, `SELECT max(seq) AS seq FROM changes WHERE school_id = ${sqlLiteral(SCHOOL)}`);
    const latest_seq = Number(latest![0]!.seq);
    await until('every change at the hub', async () => ((await hub.health()).cursor as number) >= latest_seq);
    // Settle every card at one terminal (after the write window the card's evidence decides).
    const settler = hub.terminal(canteen, seqs.get('canteen-1')!);
    for (const card of cards) {
      const held = chips.get(card.card_no)!;
      await until(`${card.card_no} settled`, async () => {
        const tap = await settler.tap(card.card_no, held);
        return tap.swipe.pending_fen === 0 && tap.swipe.settle === null;
      });
    }
    terminal = settler;
    for (const order_id of paid.keys()) await waitForStatus(campus.worker_url, order_id, 'claimed', WAIT_MS);
    await until('outbox drained', async () => (await hub.health()).outbox_depth === 0);
    // The chips are the truth: each holds exactly what was paid for it since the test began.
    for (const card of cards) {
      const expected = [...paid.values()].filter((p) => p.card_no === card.card_no).reduce((sum, p) => sum + p.amount_fen, 0);
      expect(chips.get(card.card_no)!.balance_fen - start_fen.get(card.card_no)!, card.card_no).toBe(expected);
    }
    const report = await auditLocalD1(state_dir);
    expect(report.violations).toEqual([]);
    const committed = hub.query<{ claim_id: string }>("SELECT claim_id FROM claims WHERE state = 'committed' ORDER BY claim_id");
    const [worker_claims] = await executeLocalSql(state_dir, `SELECT id FROM claims WHERE hub_id = ${sqlLiteral(HUB_ID)} ORDER BY id`);
    expect(worker_claims!.map((row) => row.id)).toEqual(committed.map((row) => row.claim_id));
  }, 240_000);
});

describe('the Worker says no', () => {
  it('a claim the Worker rejects leaves the outbox and becomes a grey record at the hub', async () => {
    // A credit the Worker never handed this hub, in its store (a foreign or damaged store).
    await hub.stop();
    terminal.close();
    hub.write(
      "INSERT INTO credits (credit_id, order_id, card_no, amount_fen, state, claim_id, created_at_ms, received_seq) VALUES ('cr_foreign', 'ord_foreign', ?, 777, 'pending', NULL, ?, 0)",
      '999',
      Date.now(),
    );
    await hub.start();
    terminal = hub.terminal(canteen, terminal.txn_seq);
    const visitor = chip('999', { balance_fen: 0, online_serial: 100 });
    const tap = await terminal.tap('999', visitor);
    expect(tap.committed?.status).toBe('committed');
    const grey = await until('grey record for the rejected claim', async () => {
      const response = await fetch(`${hub.url}/grey-records`);
      const body = (await response.json()) as { records: { reason: string; claim_id: string | null; detail?: { reason: string } }[] };
      return body.records.find((record) => record.claim_id === tap.load!.claim_id && record.reason === 'rejected_by_worker') ?? null;
    });
    expect(grey.detail?.reason).toEqual(expect.any(String));
    await until('outbox drained', async () => (await hub.health()).outbox_depth === 0);
    // The Worker changed nothing for it: no claim, and its own ledger is still clean.
    const [rows] = await executeLocalSql(state_dir, `SELECT id FROM claims WHERE id = ${sqlLiteral(tap.load!.claim_id)}`);
    expect(rows).toEqual([]);
    expect((await auditLocalD1(state_dir)).violations).toEqual([]);
  });

  it('a hub whose key the Worker does not know (rotated, unregistered) goes on serving, says degraded, and recovers once registered', async () => {
    await hub.stop();
    const old_key = readFileSync(hub.key_file, 'utf8');
    await hub.cli(['keygen', '--force']);
    const new_public_key = (await hub.cli(['keygen', '--print'])).trim().split('\n').at(-1)!;
    await hub.start();
    terminal = hub.terminal(canteen, terminal.txn_seq);
    const health = await until('degraded: the Worker answers 401', async () => {
      const h = await hub.health();
      return h.status === 'degraded' && (h.sync_failures as number) > 0 ? h : null;
    });
    expect(health.push_connected).toBe(false);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/^hub_sync_errors_total [1-9]\d*$/m);
    // The POS side goes on from what the hub holds.
    const visitor = chip('999', { balance_fen: 0, online_serial: 100 });
    expect((await terminal.tap('999', visitor)).swipe.card_status).toBe('active');
    expect(new_public_key).not.toBe(old_key);
    const registered = await admin('PUT', `/api/v1/admin/hubs/${HUB_ID}`, { school_id: SCHOOL, public_key: new_public_key });
    expect([200, 201]).toContain(registered.status);
    await until('ok again', async () => ((await hub.health()).status === 'ok' ? true : null));
  });
});

describe('the Worker refuses bad hub requests', () => {
  async function signedGet(signer: HubSigner, path_and_query: string, headers?: Record<string, string>) {
    const signed = headers ?? (await signer.headers('GET', path_and_query, ''));
    const response = await fetch(`${campus.worker_url}${path_and_query}`, { headers: signed, signal: AbortSignal.timeout(15_000) });
    return { status: response.status, body: (await response.json()) as { error?: { code: string } }, headers: signed };
  }

  it('unsigned, forged, replayed and stale requests', async () => {
    const signer = new HubSigner(HUB_ID, await importPrivateKeyPem(readFileSync(hub.key_file, 'utf8')));
    // The hub's own cursor: a pull from below what it confirmed is refused as regressed (409).
    const after = (await hub.health()).cursor as number;
    const unsigned = await fetch(`${campus.worker_url}/api/v1/hub/changes?after=${after}`);
    expect(unsigned.status).toBe(401);
    const ok = await signedGet(signer, `/api/v1/hub/changes?after=${after}&limit=1`);
    expect(ok.status).toBe(200);
    const replay = await signedGet(signer, `/api/v1/hub/changes?after=${after}&limit=1`, ok.headers);
    expect(replay).toMatchObject({ status: 401, body: { error: { code: 'replayed' } } });
    // Signed for another query: the signature covers PATH?QUERY.
    const moved = await signedGet(signer, `/api/v1/hub/changes?after=${after}&limit=2`, { ...(await signer.headers('GET', `/api/v1/hub/changes?after=${after}&limit=1`, '')) });
    expect(moved).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const stale = await signer.headers('GET', `/api/v1/hub/changes?after=${after}`, '');
    stale['X-Hub-Timestamp'] = String(Date.now() - 6 * 60_000);
    const staleAnswer = await signedGet(signer, `/api/v1/hub/changes?after=${after}`, stale);
    expect(staleAnswer).toMatchObject({ status: 401, body: { error: { code: 'timestamp_out_of_window' } } });
    // Another key under this hub's id.
    const { generateHubKeyPair } = await import('../../hub/sync/signer.ts');
    const stranger = new HubSigner(HUB_ID, await importPrivateKeyPem((await generateHubKeyPair()).private_pem));
    expect(await signedGet(stranger, `/api/v1/hub/changes?after=${after}`)).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
  });
});
