// The push channel carries money paid to the till (DESIGN sections 6 and 9: claimable within
// about a second, polling only the fallback). The hub polls every ten minutes here, so every
// credit these tests see at a swipe came through the push channel: right after payment, and
// also while the hub's earlier claim is still on its way to a slow Worker — a pull must not
// wait behind the claims it sends.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Campus } from '../../scripts/start.ts';
import { DEMO_CARDS } from '../../sim/demo-campus.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import type { Terminal } from '../../sim/pos/terminal.ts';
import { until } from '../helpers/wait.ts';
import { CARDS, enrolHub, startTestCampus, stopCampusTest, untilCaughtUp } from './helpers/campus.ts';
import { HeldLink } from './helpers/held-link.ts';
import { HubHarness } from './helpers/hub.ts';
import { payTopUp, waitForStatus } from './helpers/payer.ts';

const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-hubpush-'));
const HUB_ID = 'bjtu-hub-push';
const { zhang: ZHANG, li: LI, wang: WANG } = CARDS;
// Far beyond every wait below: nothing here is brought by the poll.
const POLL_INTERVAL_MS = 600_000;
// Generous for a shared machine, and still a small part of the poll interval.
const OFFER_WAIT_MS = 20_000;

let campus: Campus;
let link: HeldLink;
let hub: HubHarness;
let terminal: Terminal;

function chip(card_no: string): PurseCard {
  return hub.card(card_no, { balance_fen: 0, online_serial: 0 }, DEMO_CARDS.find((demo) => demo.card_no === card_no)!.asn);
}

/** Swipes until the hub offers the card a load; returns the committed tap. */
function offered(card_no: string, card: PurseCard) {
  return until(
    `${card_no} offered a load`,
    async () => {
      const tap = await terminal.tap(card_no, card);
      return tap.load === null ? null : tap;
    },
    { timeout_ms: OFFER_WAIT_MS, interval_ms: 20 },
  );
}

beforeAll(async () => {
  campus = await startTestCampus(work_dir);
  link = new HeldLink(Number(new URL(campus.worker_url).port));
  hub = new HubHarness({ worker_url: await link.open(), hub_id: HUB_ID, poll_interval_ms: POLL_INTERVAL_MS, backoff_max_ms: 400 });
  const till = await enrolHub(campus, hub, 'canteen-push');
  await hub.start();
  terminal = hub.terminal(till);
  // The first pull (at start) brings the registry; from then on only the push brings changes.
  await untilCaughtUp(hub, { push: true, timeout_ms: 30_000 });
}, 240_000);

afterAll(() => stopCampusTest({ hub, link, campus, work_dir }), 60_000);

describe('paid → claimable through the push channel', () => {
  it('a paid top-up is offered at the till without waiting for the poll', async () => {
    const card = chip(ZHANG.card_no);
    const { order_id } = await payTopUp(campus.worker_url, ZHANG, 1_000);
    const tap = await offered(ZHANG.card_no, card);
    expect(tap.load).toMatchObject({ amount_fen: 1_000, balance_after_fen: 1_000 });
    expect(tap.committed?.status).toBe('committed');
    expect((await waitForStatus(campus.worker_url, order_id, 'claimed', OFFER_WAIT_MS)).status).toBe('claimed');
  });

  it('a top-up paid while the hub is still sending an earlier claim is offered before that claim is answered', async () => {
    const li = chip(LI.card_no);
    const wang = chip(WANG.card_no);
    const first = await payTopUp(campus.worker_url, LI, 2_000);
    // The Worker answers Li's claim only when the test says so: the hub's claim stays in flight.
    link.holdNext((method, pathname) => method === 'POST' && pathname === '/api/v1/hub/claims');
    const li_tap = await offered(LI.card_no, li);
    expect(li_tap.committed?.status).toBe('committed');
    await until('the hub is sending Li\'s claim', () => link.held_waiting);
    const second = await payTopUp(campus.worker_url, WANG, 3_000);
    const wang_tap = await offered(WANG.card_no, wang);
    expect(wang_tap.load).toMatchObject({ amount_fen: 3_000, balance_after_fen: 3_000 });
    // Offered while the hub still waited for the answer to Li's claim.
    expect(link.held_waiting).toBe(true);
    link.release();
    expect((await waitForStatus(campus.worker_url, first.order_id, 'claimed', OFFER_WAIT_MS)).status).toBe('claimed');
    expect((await waitForStatus(campus.worker_url, second.order_id, 'claimed', OFFER_WAIT_MS)).status).toBe('claimed');
  });
});
