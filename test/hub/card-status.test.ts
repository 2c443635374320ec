// Lost and replaced cards at a running hub (issue 10), against the real Worker (`wrangler dev`,
// local D1, the simulated gateway) started as `npm start` starts it. The hub polls only every
// 30 s, and every wait here is shorter: what reaches it in time came through the push channel.
// A card reported lost (by the registry import or by its holder's phone) is refused at the POS
// at once, so a finder's tap claims nothing; a replaced card's money moves to the new card
// through the hub's void and is loaded onto the new chip, while the old chip gets nothing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { auditLocalD1 } from '../../scripts/audit.ts';
import { executeLocalSql, sqlLiteral } from '../../scripts/lib/local-d1.ts';
import type { Campus } from '../../scripts/start.ts';
import { initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad, SW_OK } from '../../sim/pos/apdu.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { HubRequestError, terminalTimeOf, type Terminal } from '../../sim/pos/terminal.ts';
import { adminRequest, CARDS, enrolHub, SCHOOL, startTestCampus, stopCampusTest, until, untilCaughtUp, WAIT_MS } from './helpers/campus.ts';
import { HubHarness, type RegisteredTerminal } from './helpers/hub.ts';
import { payTopUp, waitForStatus } from './helpers/payer.ts';

const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-cardstatus-'));
const state_dir = path.join(work_dir, 'state');
const HUB_ID = 'bjtu-hub-status';
const LI = CARDS.li;
const LI_ASN = '0100000020230002';
const WANG = CARDS.wang;
const WANG_ASN = '01000000000A1001';
const NEW_CARD_NO = 'T1002';
const NEW_ASN = '01000000000A1002';
// Well under the hub's 30 s poll: only a push gets a change there this soon.
const PUSH_WAIT_MS = 10_000;

let campus: Campus;
let hub: HubHarness;
let terminal: Terminal;
let canteen: RegisteredTerminal;

function admin(method: string, pathname: string, body?: unknown, content_type?: string): Promise<Response> {
  return adminRequest(campus, method, pathname, body, content_type);
}

async function importRegistry(csv: string): Promise<void> {
  const response = await admin('POST', `/api/v1/admin/schools/${SCHOOL}/cards`, csv, 'text/csv');
  expect(response.status, await response.clone().text()).toBe(200);
  expect(await response.json()).toMatchObject({ imported: 1, rejected: [] });
}

async function creditStates(order_id: string): Promise<string[]> {
  const [rows] = await executeLocalSql(state_dir, `SELECT state FROM credits WHERE order_id = ${sqlLiteral(order_id)} ORDER BY created_at_ms, id`);
  return (rows ?? []).map((row) => row.state as string);
}

/** A finder's terminal going past the swipe: the card's INITIALIZE FOR LOAD, then the load request. */
async function forceLoad(card_no: string, asn: string, chip: PurseCard, amount_fen: number): Promise<HubRequestError> {
  const answer = chip.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen, card_terminal_id: canteen.card_terminal_id }));
  expect(answer.sw).toBe(SW_OK);
  const init = parseInitForLoad(answer.data);
  try {
    await terminal.load({ card_no, asn, amount_fen, init, terminal_time: terminalTimeOf(Date.now()) });
  } catch (error) {
    if (error instanceof HubRequestError) return error;
    throw error;
  }
  throw new Error('the hub answered a load of a card that is not active with a MAC2');
}

beforeAll(async () => {
  campus = await startTestCampus(work_dir, { notify_retry_schedule_ms: [0, 1_000, 2_000] });
  hub = new HubHarness({ worker_url: campus.worker_url, hub_id: HUB_ID, poll_interval_ms: 30_000, backoff_max_ms: 400 });
  canteen = await enrolHub(campus, hub, 'canteen-1');
  await hub.start();
  terminal = hub.terminal(canteen);
  await untilCaughtUp(hub, { push: true });
}, 240_000);

afterAll(() => stopCampusTest({ hub, campus, work_dir }), 60_000);

describe('card status at the hub', () => {
  it('a card the registry import reports lost is refused at once: the finder’s swipe and load claim nothing', async () => {
    const li = hub.card(LI.card_no, { balance_fen: 300, online_serial: 4 }, LI_ASN);
    const { order_id } = await payTopUp(campus.worker_url, LI, 1_500);
    await until('credit at the hub', async () => ((await terminal.swipe(LI.card_no, li)).offer_fen === 1_500 ? true : null), PUSH_WAIT_MS);

    await importRegistry(`${LI.card_no},${LI.name},student,lost,${LI_ASN}\n`);
    const swipe = await until('lost at the hub', async () => {
      const answer = await terminal.swipe(LI.card_no, li);
      return answer.card_status === 'lost' ? answer : null;
    }, PUSH_WAIT_MS);
    expect(swipe).toMatchObject({ card_status: 'lost', offer_fen: 0 });
    // Past the swipe, a terminal that loads anyway gets no MAC2: the chip cannot take money.
    const refusal = await forceLoad(LI.card_no, LI_ASN, li, 1_500);
    expect([refusal.status, refusal.code]).toEqual([409, 'card_not_active']);
    expect(li.balance_fen).toBe(300);
    expect(await creditStates(order_id)).toEqual(['pending']);

    // Found again: the card office makes it active, and the money loads.
    await importRegistry(`${LI.card_no},${LI.name},student,active,${LI_ASN}\n`);
    const tap = await until('active again', async () => {
      const result = await terminal.tap(LI.card_no, li);
      return result.committed === null ? null : result;
    }, PUSH_WAIT_MS);
    expect(tap.load?.amount_fen).toBe(1_500);
    expect(li.balance_fen).toBe(1_800);
    await waitForStatus(campus.worker_url, order_id, 'claimed', WAIT_MS);
  });

  it('挂失 from the phone reaches the hub at once; 补卡 moves the money through the hub onto the new chip', async () => {
    const lookup = await fetch(`${campus.worker_url}/api/v1/cards/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: WANG.school_id, name: WANG.name, card_no: WANG.card_no }),
    });
    const { card_token } = (await lookup.json()) as CardLookupResponse;
    const old_chip = hub.card(WANG.card_no, { balance_fen: 0, online_serial: 0 }, WANG_ASN);
    const { order_id } = await payTopUp(campus.worker_url, WANG, 800);
    await until('credit at the hub', async () => ((await terminal.swipe(WANG.card_no, old_chip)).offer_fen === 800 ? true : null), PUSH_WAIT_MS);

    const reported = await fetch(`${campus.worker_url}/api/v1/cards/report-lost`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ card_token }),
    });
    expect(reported.status).toBe(200);
    expect(await reported.json()).toMatchObject({ status: 'lost', changed: true });
    await until('lost at the hub', async () => ((await terminal.swipe(WANG.card_no, old_chip)).card_status === 'lost' ? true : null), PUSH_WAIT_MS);
    expect((await forceLoad(WANG.card_no, WANG_ASN, old_chip, 800)).code).toBe('card_not_active');

    const replaced = await admin('POST', `/api/v1/admin/schools/${SCHOOL}/cards/${WANG.card_no}/replace`, { new_card_no: NEW_CARD_NO, new_asn: NEW_ASN });
    expect(replaced.status, await replaced.clone().text()).toBe(201);
    const view = (await replaced.json()) as { replacement_id: string; moving: string[] };
    // The hub holds the credit, so it decides: the move waits for its void answer.
    expect(view.moving).toHaveLength(1);
    await until('moved through the hub', async () => {
      const response = await admin('GET', `/api/v1/admin/schools/${SCHOOL}/replacements/${view.replacement_id}`);
      const body = (await response.json()) as { moved: string[] };
      return body.moved.length === 1 ? body : null;
    }, PUSH_WAIT_MS);

    const new_chip = hub.card(NEW_CARD_NO, { balance_fen: 0, online_serial: 0 }, NEW_ASN);
    const tap = await until('loaded onto the new chip', async () => {
      const result = await terminal.tap(NEW_CARD_NO, new_chip);
      return result.committed === null ? null : result;
    }, PUSH_WAIT_MS);
    expect(tap.load?.amount_fen).toBe(800);
    expect(new_chip.balance_fen).toBe(800);
    await waitForStatus(campus.worker_url, order_id, 'claimed', WAIT_MS);
    expect(await creditStates(order_id)).toEqual(['moved', 'claimed']);
    // The old chip is closed and gets nothing.
    expect((await terminal.swipe(WANG.card_no, old_chip))).toMatchObject({ card_status: 'closed', offer_fen: 0 });
    expect(old_chip.balance_fen).toBe(0);
  });

  it('leaves a ledger that passes the audit', async () => {
    await until('hub outbox drained', async () => (await hub.health()).outbox_depth === 0);
    const report = await auditLocalD1(state_dir);
    expect(report.violations).toEqual([]);
    expect(report.totals.credits_moved).toBe(1);
  });
});
