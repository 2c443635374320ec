// Each lost-state guard alone (DESIGN section 6, "A hub that lost state"), in a case only it can
// catch, against the real Worker with a real restored store:
// - the serial guard: the load was made while the campus link was down and the restore lost its
//   claim, so the Worker never heard of it and the cursor never went back: only the card's
//   MAC1-verified serial, ahead of the restored record, tells. Its credits freeze; a refund of
//   the credit the card already holds waits for the card office instead of paying out twice.
//   The hold reaches the Worker; the office reads the card's load log and settles it; the hub
//   lifts the freeze and the card's next top-up loads.
// - both together with the re-sync: a card frozen while the link was down, whose forgotten load
//   did reach the Worker, is released by the re-sync (the snapshot carries the card's serial).
// - the cursor guard: the card's first load at this hub came after the copy, so the restored
//   store has no serial record of it: only the Worker's refusal of the regressed pull, and the
//   re-sync, tell. Nothing is offered to that card until the Worker has answered.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sqlLiteral } from '../../scripts/lib/local-d1.ts';
import { payTopUp, recharge, waitForStatus } from './helpers/payer.ts';
import { refusal } from './helpers/refusal.ts';
import { CARDS, Fleet, until, WAIT_MS, type CardRef, type FleetHub } from './helpers/fleet.ts';
import { copyStore, restoreStore } from './helpers/store-copy.ts';
import { officeDecision } from './helpers/office.ts';
import { readCard } from '../../sim/pos/reader.ts';
import type { CardHoldView } from '../../protocol/hub.ts';

const fleet = new Fleet();
let hub: FleetHub;

async function payAndLoad(card: CardRef, amount_fen: number): Promise<string> {
  const { order_id } = await payTopUp(fleet.campus.worker_url, card, amount_fen);
  await until(`${card.card_no} loaded`, async () => (await hub.terminal.tap(card.card_no, fleet.chip(card.card_no))).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  return order_id;
}

async function durableCursor(): Promise<number> {
  const [row] = await fleet.sql(`SELECT durable_cursor FROM hubs WHERE id = ${sqlLiteral(hub.hub_id)}`);
  return Number(row?.durable_cursor ?? -1);
}

async function restartFrom(copy_path: string, options: { link_up: boolean }): Promise<void> {
  const txn_seq = hub.terminal.txn_seq;
  hub.terminal.close();
  await hub.harness.stop();
  restoreStore(copy_path, hub.harness.db_path);
  if (options.link_up) hub.link.restore();
  else hub.link.cut();
  await hub.harness.start();
  hub.terminal = hub.harness.terminal(hub.till, txn_seq);
}

beforeAll(async () => {
  await fleet.start();
  hub = await fleet.addHub('bjtu-hub-g', { write_window_ms: 2_000 });
}, 120_000);

afterAll(async () => {
  await fleet.stop();
}, 60_000);

it('serial guard alone: a load the Worker never heard of, lost by a restore, is not loaded again', async () => {
  await payAndLoad(CARDS.zhao, 100);
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.zhao, 800);
  const zhao = fleet.chip(CARDS.zhao.card_no);
  await until('credit at the hub', async () => (await hub.terminal.tap(CARDS.zhao.card_no, zhao, 'before_init')).swipe.offer_fen === 800);
  await until('cursor confirmed', async () => (await durableCursor()) >= hub.harness.query<{ value: string }>("SELECT value FROM meta WHERE key = 'cursor'").map((row) => Number(row.value))[0]!);
  const copy_path = path.join(fleet.work_dir, 'guards-serial.db');
  await copyStore(hub.harness.db_path, copy_path, 'backup');
  hub.link.cut();
  const tap = await hub.terminal.tap(CARDS.zhao.card_no, zhao);
  expect(tap.committed?.status).toBe('committed');
  expect(zhao.balance_fen).toBe(900);
  // The claim waits in the outbox; the restore throws it away.
  await restartFrom(copy_path, { link_up: true });
  await until('synced', async () => (await hub.harness.health()).worker_confirmed === true);
  // Nothing went back in time as far as the Worker knows: no resync, the credit is pending.
  const health = await hub.harness.health();
  expect(health).toMatchObject({ resyncing: false, not_offering: null, outbox_depth: 0 });
  expect((await fleet.creditOf(order_id)).state).toBe('pending');
  // The swipe (the terminal's word) sees the pending credit; the card's verified serial refuses it.
  expect(await refusal(hub.terminal.tap(CARDS.zhao.card_no, zhao))).toEqual({ status: 409, code: 'card_frozen' });
  expect(zhao.balance_fen).toBe(900);
  const grey = await fleet.greyAt(hub);
  expect(grey.find((record) => record.reason === 'serial_ahead' && record.card_no === CARDS.zhao.card_no)).toBeDefined();
  expect((await hub.terminal.tap(CARDS.zhao.card_no, zhao)).swipe).toMatchObject({ offer_fen: 0, pending_fen: 800 });

  // A refund of that credit would pay back money the card holds: the hub does not answer voided.
  const refund = await fleet.admin('POST', `/api/v1/admin/orders/${order_id}/refund`);
  expect(refund.status).toBe(202);
  const [credit] = hub.harness.query<{ credit_id: string }>('SELECT credit_id FROM credits WHERE card_no = ? AND state = ?', CARDS.zhao.card_no, 'pending');
  await until('void request at the hub', async () => hub.harness.query<{ void_requested: number }>('SELECT void_requested FROM credits WHERE credit_id = ?', credit!.credit_id)[0]?.void_requested === 1);
  expect(hub.harness.query('SELECT credit_id FROM void_answers WHERE credit_id = ?', credit!.credit_id)).toEqual([]);
  const [row] = await fleet.sql(`SELECT state FROM refunds WHERE order_id = ${sqlLiteral(order_id)}`);
  expect(row?.state).toBe('requested');
  expect((await recharge(fleet.campus.worker_url, order_id)).status).toBe('pending_claim');
  await fleet.expectAuditClean();

  // The hold reaches the card office, which reads the card at its desk and settles it: the one
  // load the hub forgot took the 800, so that credit is claimed and the refund refused.
  const hold = await until('hold at the Worker', async () => {
    const response = await fleet.admin('GET', `/api/v1/admin/card-holds?school_id=${CARDS.zhao.school_id}&status=open`);
    const { holds } = (await response.json()) as { holds: CardHoldView[] };
    return holds.find((row) => row.hub_id === hub.hub_id && row.card_no === CARDS.zhao.card_no);
  });
  expect(hold).toMatchObject({ online_serial_seen: zhao.online_serial, online_serial_recorded: zhao.online_serial - 1, balance_fen: 900 });
  const decision = officeDecision(hold, readCard(zhao), '卡务中心');
  if (!decision.ok) throw new Error(decision.reason);
  expect(decision.body.loaded_credit_ids).toEqual([credit!.credit_id]);
  const settled = await fleet.admin('POST', `/api/v1/admin/card-holds/${hub.hub_id}/${CARDS.zhao.card_no}/settle`, decision.body);
  expect(settled.status, await settled.clone().text()).toBe(200);
  expect(await settled.json()).toMatchObject({ claimed_credit_ids: [credit!.credit_id], refunds_refused: 1 });
  expect((await recharge(fleet.campus.worker_url, order_id)).status).toBe('claimed');
  const [refunded] = await fleet.sql(`SELECT state FROM refunds WHERE order_id = ${sqlLiteral(order_id)}`);
  expect(refunded?.state).toBe('refused');
  // The hub hears it in its feed: the freeze lifts, and the card's next top-up loads.
  await until('hold settled at the hub', async () => hub.harness.query<{ frozen: number }>('SELECT frozen FROM cards WHERE card_no = ?', CARDS.zhao.card_no)[0]?.frozen === 0);
  expect(hub.harness.query('SELECT state FROM credits WHERE credit_id = ?', credit!.credit_id)).toEqual([{ state: 'claimed' }]);
  const next = await payTopUp(fleet.campus.worker_url, CARDS.zhao, 150);
  await until(`${CARDS.zhao.card_no} loaded`, async () => (await hub.terminal.tap(CARDS.zhao.card_no, zhao)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, next.order_id, 'claimed', WAIT_MS);
  // Chips = paid − refunded − spent: 100 + 800 + 150, nothing refunded, nothing spent.
  expect(zhao.balance_fen).toBe(1_050);
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(hub);
}, 90_000);

it('cursor guard alone: a card first loaded after the copy gets nothing until the Worker has answered, then nothing again', async () => {
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.li, 600);
  const li = fleet.chip(CARDS.li.card_no);
  await until('credit at the hub', async () => (await hub.terminal.tap(CARDS.li.card_no, li, 'before_init')).swipe.offer_fen === 600);
  // The copy holds LI's credit as pending; LI was never loaded here, so it holds no serial record.
  const copy_path = path.join(fleet.work_dir, 'guards-cursor.db');
  await copyStore(hub.harness.db_path, copy_path, 'backup');
  await until(`${CARDS.li.card_no} loaded`, async () => (await hub.terminal.tap(CARDS.li.card_no, li)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  expect(li.balance_fen).toBe(600);
  // Another top-up after it: the hub confirms a cursor the copy is behind.
  await payTopUp(fleet.campus.worker_url, CARDS.wang, 100);
  const [latest] = await fleet.sql("SELECT max(seq) AS seq FROM changes WHERE school_id = 'bjtu-weihai'");
  await until('cursor confirmed', async () => (await durableCursor()) >= Number(latest!.seq));
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);

  await restartFrom(copy_path, { link_up: false });
  expect(hub.harness.query("SELECT card_no FROM cards WHERE card_no = ? AND last_online_serial IS NULL", CARDS.li.card_no)).toHaveLength(1);
  // The restored store holds LI's credit as pending, and no record that could tell.
  expect((await hub.terminal.tap(CARDS.li.card_no, li)).swipe).toMatchObject({ pending_fen: 600, offer_fen: 0 });
  expect((await hub.harness.health()).worker_confirmed).toBe(false);
  hub.link.restore();
  await until('re-synced', async () => {
    const health = await hub.harness.health();
    return health.worker_confirmed === true && health.resyncing === false;
  });
  expect((await hub.terminal.tap(CARDS.li.card_no, li)).swipe).toMatchObject({ pending_fen: 0, offer_fen: 0 });
  expect(li.balance_fen).toBe(600);
  const credit = await fleet.creditOf(order_id);
  const grey = await fleet.greyAt(hub);
  expect(grey.find((record) => record.reason === 'forgotten_load' && record.detail?.credit_id === credit.id)).toMatchObject({ card_no: CARDS.li.card_no });
  expect(hub.harness.query('SELECT state FROM credits WHERE credit_id = ?', credit.id)).toEqual([{ state: 'claimed' }]);
  // A new top-up for the card is offered again, once; WANG's, unknown to the copy, comes through the re-sync.
  await payAndLoad(CARDS.li, 50);
  expect(li.balance_fen).toBe(650);
  await until(`${CARDS.wang.card_no} loaded`, async () => (await hub.terminal.tap(CARDS.wang.card_no, fleet.chip(CARDS.wang.card_no))).committed !== null);
  expect(fleet.chip(CARDS.wang.card_no).balance_fen).toBe(100);
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(hub);
}, 60_000);

it('a card frozen while the link was down, whose forgotten load reached the Worker, is released by the re-sync', async () => {
  await payAndLoad(CARDS.zhang, 100);
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.zhang, 300);
  const zhang = fleet.chip(CARDS.zhang.card_no);
  await until('credit at the hub', async () => (await hub.terminal.tap(CARDS.zhang.card_no, zhang, 'before_init')).swipe.offer_fen === 300);
  const copy_path = path.join(fleet.work_dir, 'guards-release.db');
  await copyStore(hub.harness.db_path, copy_path, 'backup');
  // The load the copy will forget, claimed at the Worker; then a change the copy is behind.
  await until(`${CARDS.zhang.card_no} loaded`, async () => (await hub.terminal.tap(CARDS.zhang.card_no, zhang)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  await payTopUp(fleet.campus.worker_url, CARDS.visitor, 100);
  const [latest] = await fleet.sql("SELECT max(seq) AS seq FROM changes WHERE school_id = 'bjtu-weihai'");
  await until('cursor confirmed', async () => (await durableCursor()) >= Number(latest!.seq));
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);

  await restartFrom(copy_path, { link_up: false });
  // Before the Worker has answered, the card's verified serial is all the hub has: frozen.
  expect(await refusal(hub.terminal.tap(CARDS.zhang.card_no, zhang))).toEqual({ status: 409, code: 'card_frozen' });
  expect(zhang.balance_fen).toBe(400);
  hub.link.restore();
  await until('re-synced', async () => {
    const health = await hub.harness.health();
    return health.worker_confirmed === true && health.resyncing === false;
  });
  expect(hub.harness.query('SELECT last_online_serial, frozen FROM cards WHERE card_no = ?', CARDS.zhang.card_no)).toEqual([{ last_online_serial: zhang.online_serial, frozen: 0 }]);
  expect((await hub.terminal.tap(CARDS.zhang.card_no, zhang)).swipe).toMatchObject({ pending_fen: 0, offer_fen: 0 });
  // The card office sees the hold the re-sync resolved; the card's next top-up loads.
  await until('hold resolved at the Worker', async () => {
    const [row] = await fleet.sql(`SELECT status FROM card_holds WHERE hub_id = ${sqlLiteral(hub.hub_id)} AND card_no = ${sqlLiteral(CARDS.zhang.card_no)}`);
    return row?.status === 'resolved';
  });
  await payAndLoad(CARDS.zhang, 50);
  expect(zhang.balance_fen).toBe(450);
  await until('outbox drained', async () => (await hub.harness.health()).outbox_depth === 0);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(hub);
}, 60_000);
