// A hub restored from a copy of its store (DESIGN section 6, "A hub that lost state"), against
// the real Worker: the store is copied mid-run three ways (SQLite's online backup, the file with
// its WAL, the file without it), more cards are loaded, the copy is put back and the hub
// restarted. The Worker refuses its first pull as regressed; the hub offers nothing until it has
// re-read every credit it owns; the loads it forgot are grey records; no card is loaded twice;
// a card whose verified serial is ahead of the restored record, by loads the Worker has claims
// of, is not frozen (the snapshot carries the card's serial) and loads its next top-up. After the guards the
// audit is clean and the Worker agrees with the hub, for each kind of copy in turn.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { payTopUp, waitForStatus } from './helpers/payer.ts';
import { CARDS, Fleet, until, WAIT_MS, type CardRef, type FleetHub } from './helpers/fleet.ts';
import { checkpoint, copyStore, restoreStore, type CopyKind } from './helpers/store-copy.ts';

const fleet = new Fleet();
let hub: FleetHub;
const KINDS: readonly CopyKind[] = ['backup', 'with_wal', 'without_wal'];
const copy = (kind: CopyKind) => path.join(fleet.work_dir, `copy-${kind}.db`);
// What each card was paid, by order: the chips must end with exactly what was claimed.
const paid: { order_id: string; card: CardRef; amount_fen: number }[] = [];
/** Orders loaded after the copies were taken: the loads every restored store forgot. */
const after_copy: string[] = [];

async function pay(card: CardRef, amount_fen: number): Promise<string> {
  const { order_id } = await payTopUp(fleet.campus.worker_url, card, amount_fen);
  paid.push({ order_id, card, amount_fen });
  return order_id;
}

async function payAndLoad(card: CardRef, amount_fen: number): Promise<string> {
  const order_id = await pay(card, amount_fen);
  const chip = fleet.chip(card.card_no);
  await until(`${card.card_no} loaded`, async () => (await hub.terminal.tap(card.card_no, chip)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  return order_id;
}

async function latestSeq(): Promise<number> {
  const [row] = await fleet.sql("SELECT max(seq) AS seq FROM changes WHERE school_id = 'bjtu-weihai'");
  return Number(row?.seq ?? 0);
}

/** The Worker holds the hub's confirmation of every change so far: a copy from before is behind it. */
async function confirmedThroughLatest(): Promise<void> {
  const latest = await latestSeq();
  await until('the hub confirmed the newest change durable', async () => {
    const [row] = await fleet.sql(`SELECT durable_cursor FROM hubs WHERE id = '${hub.hub_id}'`);
    return Number(row?.durable_cursor ?? -1) >= latest;
  });
}

beforeAll(async () => {
  await fleet.start();
  hub = await fleet.addHub('bjtu-hub-r', { write_window_ms: 2_000 });
}, 120_000);

afterAll(async () => {
  await fleet.stop();
}, 60_000);

it('copies taken mid-run, then more loads: some on cards loaded before, one on a card never loaded before', async () => {
  // Everything so far (cards, terminal) reaches hub.db itself, as SQLite's checkpoints do.
  checkpoint(hub.harness.db_path);
  // In the WAL only: a copy of hub.db without it forgets these two loads too.
  await payAndLoad(CARDS.zhang, 1_000);
  await payAndLoad(CARDS.visitor, 500);
  await confirmedThroughLatest();
  for (const kind of KINDS) await copyStore(hub.harness.db_path, copy(kind), kind);
  after_copy.push(await payAndLoad(CARDS.zhang, 2_000));
  after_copy.push(await payAndLoad(CARDS.li, 700));
  // Paid, owned by this hub, never swiped: unknown to every copy.
  await pay(CARDS.wang, 300);
  await until('credit at the hub', async () => ((await hub.harness.health()).pending_credits as number) === 1);
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
  await confirmedThroughLatest();
  expect(fleet.chip(CARDS.zhang.card_no).balance_fen).toBe(3_000);
});

for (const kind of KINDS) {
  it(`restored from ${kind.replace('_', ' ')}: nothing offered before the re-sync, no card loaded twice, the forgotten loads are grey records`, async () => {
    const txn_seq = hub.terminal.txn_seq;
    hub.terminal.close();
    await hub.harness.stop();
    restoreStore(copy(kind), hub.harness.db_path);
    // The link is down as it starts: the store cannot know yet that it went back in time.
    hub.link.cut();
    await hub.harness.start();
    hub.terminal = hub.harness.terminal(hub.till, txn_seq);
    const restored = await hub.harness.health();
    expect(restored).toMatchObject({ worker_confirmed: false });
    // LI was first loaded after the copy: no serial record guards it, so nothing is offered.
    const li = fleet.chip(CARDS.li.card_no);
    const before = await hub.terminal.tap(CARDS.li.card_no, li);
    expect(before.swipe.offer_fen).toBe(0);
    expect(before.load).toBeNull();

    hub.link.restore();
    await until('re-synced', async () => {
      const health = await hub.harness.health();
      return health.worker_confirmed === true && health.resyncing === false && health.not_offering === null;
    });
    const grey = await fleet.greyAt(hub);
    const forgotten = grey.filter((record) => record.reason === 'forgotten_load').map((record) => record.detail?.credit_id);
    for (const order_id of after_copy) expect(forgotten).toContain((await fleet.creditOf(order_id)).id);

    // Every card swiped: only WANG's top-up, never loaded, is loaded (once, by the first restore).
    const start = fleet.chipBalances();
    for (const card of [CARDS.zhang, CARDS.li, CARDS.visitor, CARDS.wang]) {
      const tap = await hub.terminal.tap(card.card_no, fleet.chip(card.card_no));
      expect(tap.load === null ? 0 : tap.load.amount_fen, card.card_no).toBe(card === CARDS.wang && kind === KINDS[0] ? 300 : 0);
    }
    const loaded = [...fleet.chipBalances()].filter(([card_no, fen]) => fen !== start.get(card_no));
    expect(loaded.map(([card_no]) => card_no)).toEqual(kind === KINDS[0] ? [CARDS.wang.card_no] : []);
    await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
    await fleet.expectAuditClean();
    await fleet.expectAgreement(hub);
  }, 60_000);
}

it("a card whose forgotten loads all reached the Worker is not frozen: the re-sync learns its serial, its next top-up loads", async () => {
  // The last restore (without the WAL) forgot ZHANG's loads; the backup kept its first. Restore
  // the backup again: its record of ZHANG is one load behind the chip, and the load it forgot
  // is a claim at the Worker, whose serial the snapshot carries.
  const txn_seq = hub.terminal.txn_seq;
  hub.terminal.close();
  await hub.harness.stop();
  restoreStore(copy('backup'), hub.harness.db_path);
  // Paid while the restored hub cannot reach the Worker: no hub owns the credit yet, so it is
  // in no snapshot; the feed after the re-sync must bring it.
  hub.link.cut();
  await hub.harness.start();
  hub.terminal = hub.harness.terminal(hub.till, txn_seq);
  const restored_serial = hub.harness.query<{ last_online_serial: number }>('SELECT last_online_serial FROM cards WHERE card_no = ?', CARDS.zhang.card_no)[0]!.last_online_serial;
  const zhang = fleet.chip(CARDS.zhang.card_no);
  expect(zhang.online_serial).toBeGreaterThan(restored_serial);
  await pay(CARDS.zhang, 400);
  hub.link.restore();
  await until('re-synced', async () => {
    const health = await hub.harness.health();
    return health.worker_confirmed === true && health.resyncing === false;
  });
  expect(hub.harness.query('SELECT last_online_serial, frozen FROM cards WHERE card_no = ?', CARDS.zhang.card_no)).toEqual([{ last_online_serial: zhang.online_serial, frozen: 0 }]);
  await until('credit at the hub', async () => ((await hub.harness.health()).pending_credits as number) >= 1);
  const balance_fen = zhang.balance_fen;
  const tap = await hub.terminal.tap(CARDS.zhang.card_no, zhang);
  expect(tap.committed?.status).toBe('committed');
  expect(zhang.balance_fen).toBe(balance_fen + 400);
  const grey = await fleet.greyAt(hub);
  expect(grey.find((record) => record.reason === 'serial_ahead' && record.card_no === CARDS.zhang.card_no)).toBeUndefined();
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
});

it('the chips hold exactly what the Worker has claimed; the audit is clean; the Worker agrees with the hub', async () => {
  const [claimed] = await fleet.sql("SELECT coalesce(sum(amount_fen), 0) AS fen FROM credits WHERE school_id = 'bjtu-weihai' AND state = 'claimed'");
  const start = new Map([...fleet.chipBalances()].map(([card_no]) => [card_no, 0]));
  expect(fleet.chipTotalFen(start)).toBe(Number(claimed!.fen));
  const per_card = new Map<string, number>();
  for (const { order_id, card, amount_fen } of paid) {
    if ((await fleet.creditOf(order_id)).state === 'claimed') per_card.set(card.card_no, (per_card.get(card.card_no) ?? 0) + amount_fen);
  }
  for (const [card_no, fen] of per_card) expect(fleet.chip(card_no).balance_fen, card_no).toBe(fen);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(hub);
});
