// Two hubs of one school against the real Worker (DESIGN section 6, "One owner per credit"):
// the first registered is active and owns the credits it is handed; the second is a standby,
// which holds the cards but no credits and offers no load. The active hub loads a card while
// its campus link is cut (the claim waits in its outbox); the card office refunds that order;
// a void answer from the standby is refused as not_owner; the refund waits for the owner; the
// link returns, the claim is accepted and the refund refused: nothing doubled.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { payTopUp, recharge, waitForStatus } from './helpers/payer.ts';
import { CARDS, Fleet, until, WAIT_MS, type FleetHub } from './helpers/fleet.ts';
import { sqlLiteral } from '../../scripts/lib/local-d1.ts';

const fleet = new Fleet();
let active: FleetHub;
let standby: FleetHub;

beforeAll(async () => {
  await fleet.start();
  active = await fleet.addHub('bjtu-hub-a');
  standby = await fleet.addHub('bjtu-hub-b');
}, 120_000);

afterAll(async () => {
  await fleet.stop();
}, 60_000);

it('the standby holds the cards but no credits, says so, and offers no load', async () => {
  const zhang = fleet.chip(CARDS.zhang.card_no);
  await payTopUp(fleet.campus.worker_url, CARDS.zhang, 1_000);
  const loaded = await until('loaded at the active hub', async () => {
    const tap = await active.terminal.tap(CARDS.zhang.card_no, zhang);
    return tap.committed === null ? null : tap;
  });
  expect(loaded.load?.amount_fen).toBe(1_000);
  // A second top-up sits at the active hub; the standby never sees it.
  await payTopUp(fleet.campus.worker_url, CARDS.li, 700);
  await until('credit at the active hub', async () => ((await active.harness.health()).pending_credits as number) === 1);
  const health = await standby.harness.health();
  expect(health).toMatchObject({ hub_state: 'standby', not_offering: 'standby', pending_credits: 0 });
  expect(health.cards as number).toBeGreaterThanOrEqual(5);
  const li = fleet.chip(CARDS.li.card_no);
  expect((await standby.terminal.tap(CARDS.li.card_no, li)).swipe).toMatchObject({ card_status: 'active', offer_fen: 0 });
  expect(li.balance_fen).toBe(0);
  expect(await (await fetch(`${standby.harness.url}/metrics`)).text()).toMatch(/^hub_offering_loads 0$/m);
  expect((await active.harness.health()).hub_state).toBe('active');
});

it('loaded while the link is cut, refunded meanwhile, a void from the standby refused: the claim wins, nothing doubled', async () => {
  const wang = fleet.chip(CARDS.wang.card_no);
  const start_fen = wang.balance_fen;
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.wang, 2_500);
  const credit = await until('credit owned by the active hub', async () => {
    const row = await fleet.creditOf(order_id);
    return row.owner_hub_id === active.hub_id ? row : null;
  });
  await until('credit at the active hub', async () => (await active.terminal.tap(CARDS.wang.card_no, wang, 'before_init')).swipe.offer_fen === 2_500);
  active.link.cut();
  const tap = await active.terminal.tap(CARDS.wang.card_no, wang);
  expect(tap.committed?.status).toBe('committed');
  expect(wang.balance_fen - start_fen).toBe(2_500);
  expect((await active.harness.health()).outbox_depth).toBe(1);

  // The card office refunds it: the credit is the active hub's, so the refund asks that hub.
  const refund = await fleet.admin('POST', `/api/v1/admin/orders/${order_id}/refund`);
  expect(refund.status).toBe(202);
  expect(await refund.json()).toMatchObject({ state: 'requested', route: 'hub' });

  // The standby answers "voided" for it (a hub that does not own it): refused, changes nothing.
  const answer = await fleet.signedAs(standby, 'POST', '/api/v1/hub/voids', { answers: [{ credit_id: credit.id, result: 'voided' }] });
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ results: [{ credit_id: credit.id, status: 'rejected', code: 'not_owner' }] });
  // The same from the standby as a claim of the credit: refused too.
  expect((await fleet.creditOf(order_id)).state).toBe('pending');
  const [waiting] = await fleet.sql(`SELECT state FROM refunds WHERE order_id = ${sqlLiteral(order_id)}`);
  expect(waiting?.state).toBe('requested');
  expect((await recharge(fleet.campus.worker_url, order_id)).status).toBe('pending_claim');

  // The link returns: the owner's claim is accepted and its answer refuses the refund.
  active.link.restore();
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  await until('refund refused', async () => {
    const [row] = await fleet.sql(`SELECT state FROM refunds WHERE order_id = ${sqlLiteral(order_id)}`);
    return row?.state === 'refused';
  });
  expect(await fleet.creditOf(order_id)).toMatchObject({ state: 'claimed', owner_hub_id: active.hub_id, claim_id: tap.load!.claim_id });
  await until('outbox drained', async () => (await active.harness.health()).outbox_depth === 0 && (await active.harness.health()).void_answers_unsent === 0);
});

it('a claim from the standby for a credit it does not own is refused and kept for the card office', async () => {
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.visitor, 300);
  const credit = await until('credit owned by the active hub', async () => {
    const row = await fleet.creditOf(order_id);
    return row.owner_hub_id === active.hub_id ? row : null;
  });
  const claim = {
    claim_id: 'clm_standby_forged_0001',
    card_no: CARDS.visitor.card_no,
    terminal_id: standby.till.terminal_id,
    card_terminal_id: standby.till.card_terminal_id,
    amount_fen: 300,
    credit_ids: [credit.id],
    balance_after_fen: 300,
    online_serial_after: 21,
    committed_at_ms: Date.now(),
    proof: { kind: 'tac', tac: '00000000' },
  };
  const answer = await fleet.signedAs(standby, 'POST', '/api/v1/hub/claims', { claims: [claim] });
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ results: [{ claim_id: claim.claim_id, status: 'rejected', code: 'not_owner' }] });
  expect((await fleet.creditOf(order_id)).state).toBe('pending');
  const rejections = await fleet.admin('GET', '/api/v1/admin/claim-rejections');
  expect(JSON.stringify(await rejections.json())).toContain(claim.claim_id);
  // The owner loads it as usual.
  const visitor = fleet.chip(CARDS.visitor.card_no);
  await until('loaded at the active hub', async () => (await active.terminal.tap(CARDS.visitor.card_no, visitor)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
});

it('the chips hold exactly what was paid and not refunded; the audit is clean; the Worker agrees with both hubs', async () => {
  await until('outbox drained', async () => (await active.harness.health()).outbox_depth === 0);
  const paid = await fleet.sql(`SELECT coalesce(sum(amount_fen), 0) AS fen FROM orders WHERE school_id = 'bjtu-weihai' AND status = 'paid'`);
  const refunded = await fleet.sql(`SELECT coalesce(sum(amount_fen), 0) AS fen FROM orders WHERE school_id = 'bjtu-weihai' AND status = 'refunded'`);
  const pending = await fleet.sql(`SELECT coalesce(sum(amount_fen), 0) AS fen FROM credits WHERE school_id = 'bjtu-weihai' AND state = 'pending'`);
  // Paid − refunded − still pending (LI's top-up, never swiped at the active hub) = on the chips.
  const start = new Map([...fleet.chipBalances()].map(([card_no]) => [card_no, 0]));
  expect(fleet.chipTotalFen(start)).toBe(Number(paid[0]!.fen) - Number(refunded[0]!.fen) - Number(pending[0]!.fen));
  expect(Number(refunded[0]!.fen)).toBe(0);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(active);
  await fleet.expectAgreement(standby);
  expect(standby.harness.query('SELECT credit_id FROM credits')).toEqual([]);
});
