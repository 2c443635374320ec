// Handover between hubs of one school against the real Worker (DESIGN section 6, "Handover"):
// a live active hub is retired under swipes (it stops offering, drains, confirms, and its
// unclaimed credits move to the hub made active next); then that hub dies with a credit on it:
// the credit is frozen, a refund of it is refused with the reason, and the card office settles
// it with the card's evidence, after which a third hub loads it. Every paid top-up reaches its
// card exactly once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Terminal } from '../../sim/pos/terminal.ts';
import { HubRequestError } from '../../sim/pos/terminal.ts';
import { payTopUp, waitForStatus } from './helpers/payer.ts';
import { CARDS, Fleet, until, WAIT_MS, type CardRef, type FleetHub } from './helpers/fleet.ts';

const fleet = new Fleet();
let a: FleetHub;
let b: FleetHub;
let c: FleetHub;
const paid: { order_id: string; card: CardRef; amount_fen: number }[] = [];
// A refusal a tap may meet while the hubs change hands: it changes nothing, the card is swiped again.
const HANDOVER_REFUSALS = new Set(['hub_not_offering', 'offer_changed', 'card_busy']);

beforeAll(async () => {
  await fleet.start();
  a = await fleet.addHub('bjtu-hub-a', { write_window_ms: 1_000 });
  b = await fleet.addHub('bjtu-hub-b', { write_window_ms: 1_000 });
  c = await fleet.addHub('bjtu-hub-c', { write_window_ms: 1_000 });
}, 150_000);

afterAll(async () => {
  await fleet.stop();
}, 60_000);

/** Swipes the cards at each terminal, round after round, until stopped: the campus at lunch. */
function swipeLoop(terminals: Terminal[], cards: CardRef[]): { stop: () => Promise<void>; loads: () => number } {
  let running = true;
  let loads = 0;
  // One chip is in one reader at a time.
  const busy = new Set<string>();
  const work = terminals.map(async (terminal, i) => {
    for (let round = 0; running && round < 2_000; round++) {
      const card = cards.map((_, k) => cards[(round + i + k) % cards.length]!).find((next) => !busy.has(next.card_no));
      if (card !== undefined) {
        busy.add(card.card_no);
        try {
          const tap = await terminal.tap(card.card_no, fleet.chip(card.card_no));
          if (tap.committed !== null) loads += 1;
        } catch (error) {
          if (!(error instanceof HubRequestError && HANDOVER_REFUSALS.has(error.code))) throw error;
        } finally {
          busy.delete(card.card_no);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(work);
    },
    loads: () => loads,
  };
}

it('a live hub retired under swipes drains and confirms; its credits move to the new active hub and are loaded once', async () => {
  const cards = [CARDS.zhang, CARDS.li, CARDS.wang, CARDS.visitor];
  // Paid before the swipes start: all of them owned by A.
  for (const [i, card] of cards.entries()) {
    const { order_id } = await payTopUp(fleet.campus.worker_url, card, 100 * (i + 1));
    paid.push({ order_id, card, amount_fen: 100 * (i + 1) });
  }
  await until('credits at A', async () => ((await a.harness.health()).pending_credits as number) === cards.length);
  // Two of them loaded at A before the handover begins; the others wait.
  for (const card of cards.slice(0, 2)) await until(`${card.card_no} loaded at A`, async () => (await a.terminal.tap(card.card_no, fleet.chip(card.card_no))).committed !== null);

  // From here on both hubs' terminals swipe every card.
  const swipes = swipeLoop([a.terminal, b.terminal], cards);
  try {
    expect((await b.harness.health()).hub_state).toBe('standby');
    await fleet.setState(a.hub_id, 'retiring', 'server maintenance');
    await until('A stops offering', async () => (await a.harness.health()).not_offering === 'retiring');
    await until('A drained and confirmed', async () => (await a.harness.health()).retire_confirmed === true);
    const [drained] = await fleet.sql(`SELECT drained_at_ms FROM hubs WHERE id = '${a.hub_id}'`);
    expect(drained?.drained_at_ms).toEqual(expect.any(Number));
    expect((await b.harness.health()).pending_credits).toBe(0);
    await fleet.setState(a.hub_id, 'retired', 'drained');
    await fleet.setState(b.hub_id, 'active', 'takes over from A');
    await until('A hears it is retired', async () => (await a.harness.health()).hub_state === 'retired');
    for (const { order_id } of paid) await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  } finally {
    // Stopped also when a step above failed: no tap may outlive the test.
    await swipes.stop();
  }
  expect(swipes.loads()).toBe(2);
  for (const { card, amount_fen } of paid) expect(fleet.chip(card.card_no).balance_fen, card.card_no).toBe(amount_fen);
  // Each credit was claimed by the hub that owned it then: A (before it retired) or B.
  for (const { order_id } of paid) {
    const credit = await fleet.creditOf(order_id);
    const [claim] = await fleet.sql(`SELECT hub_id FROM claims WHERE id = '${credit.claim_id}'`);
    expect(claim?.hub_id).toBe(credit.owner_hub_id);
    expect([a.hub_id, b.hub_id]).toContain(credit.owner_hub_id);
  }
  await until('B outbox drained', async () => (await b.harness.health()).outbox_depth === 0);
  // The retired hub offers nothing, for a card with a credit left in its store or not.
  for (const card of cards) expect((await a.terminal.tap(card.card_no, fleet.chip(card.card_no))).swipe.offer_fen, card.card_no).toBe(0);
}, 90_000);

it('a dead hub: its credit frozen, a refund refused with the reason, settled by the card office, then loaded once by the new active hub', async () => {
  const { order_id } = await payTopUp(fleet.campus.worker_url, CARDS.zhao, 800);
  paid.push({ order_id, card: CARDS.zhao, amount_fen: 800 });
  const credit = await until('credit owned by B', async () => {
    const row = await fleet.creditOf(order_id);
    return row.owner_hub_id === b.hub_id ? row : null;
  });
  await until('credit at B', async () => ((await b.harness.health()).pending_credits as number) === 1);
  b.terminal.close();
  await b.harness.kill();
  await fleet.setState(b.hub_id, 'dead', 'server lost');
  const refund = await fleet.admin('POST', `/api/v1/admin/orders/${order_id}/refund`);
  expect(refund.status).toBe(409);
  const body = (await refund.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('credit_frozen');
  expect(body.error.message).toMatch(/bjtu-hub-b|dead/);
  // No other hub offers it meanwhile.
  await fleet.setState(c.hub_id, 'active', 'replaces the dead hub');
  const zhao = fleet.chip(CARDS.zhao.card_no);
  expect((await c.terminal.tap(CARDS.zhao.card_no, zhao)).swipe.offer_fen).toBe(0);
  // The card office reads the card: 0.00 on it, serial 20, so the top-up never reached it.
  const settled = await fleet.admin('POST', `/api/v1/admin/credits/${credit.id}/settle`, {
    decision: 'release',
    evidence: `card ${CARDS.zhao.card_no} read at the office: balance ${zhao.balance_fen} fen, online serial ${zhao.online_serial}`,
    actor: 'card office test',
  });
  expect(settled.status, await settled.clone().text()).toBe(200);
  await until('loaded at C', async () => (await c.terminal.tap(CARDS.zhao.card_no, zhao)).committed !== null);
  await waitForStatus(fleet.campus.worker_url, order_id, 'claimed', WAIT_MS);
  expect(zhao.balance_fen).toBe(800);
  expect(await fleet.creditOf(order_id)).toMatchObject({ state: 'claimed', owner_hub_id: c.hub_id });
}, 60_000);

it('every paid top-up on its card once; the audit is clean; the Worker agrees with the live hubs', async () => {
  await until('C outbox drained', async () => (await c.harness.health()).outbox_depth === 0);
  const per_card = new Map<string, number>();
  for (const { card, amount_fen } of paid) per_card.set(card.card_no, (per_card.get(card.card_no) ?? 0) + amount_fen);
  for (const [card_no, fen] of per_card) expect(fleet.chip(card_no).balance_fen, card_no).toBe(fen);
  await fleet.expectAuditClean();
  await fleet.expectAgreement(c);
  expect((await a.harness.health()).not_offering).toBe('retired');
});
