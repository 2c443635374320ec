// The ledger audit (DESIGN section 3) inside workerd: clean on a ledger the payment code built,
// and naming the violation, with its ids, on ledgers corrupted on purpose. Each corruption is
// undone afterwards, so the tests hold whether or not storage is isolated per test.
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../worker/db/client.ts';
import { formatViolation, type AuditReport } from '../../worker/ledger/audit.ts';
import { applyClaims } from '../../worker/ledger/claims.ts';
import { applyClosed, applyPaid, creditIdForOrder } from '../../worker/ledger/payment.ts';
import { requestRefund } from '../../worker/ledger/refunds.ts';
import { readChanges } from '../../worker/hub/changes.ts';
import { auditTestLedger, expectLedgerClean } from './helpers/audit.ts';
import { ADMIN_AUTH, api, seedDemoCampus } from './helpers/seed.ts';

const PAID = 'Y20261122AUDIT000001';
const PAID_2 = 'Y20261122AUDIT000002';
const CLAIMED_A = 'Y20261122AUDIT000003';
const CLAIMED_B = 'Y20261122AUDIT000004';
const REFUNDED = 'Y20261122AUDIT000005';
const CLOSED = 'Y20261122AUDIT000006';
const UNPAID = 'Y20261122AUDIT000007';
const CLAIM_ID = 'CL-audit-0001';
const HUB_ID = 'hub-audit-bjtu';

let refund_id = '';

const audit = auditTestLedger;

async function run(sql: string, ...params: (string | number)[]): Promise<void> {
  await env.DB.prepare(sql).bind(...params).run();
}

async function insertOrder(order_id: string, amount_fen: number, card_no = '20230001'): Promise<void> {
  const now_ms = Date.now();
  await run(
    `INSERT OR IGNORE INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
     VALUES (?, 'bjtu-weihai', ?, ?, 'alipay', 'unpaid', ?, ?)`,
    order_id,
    card_no,
    amount_fen,
    now_ms,
    now_ms + 900_000,
  );
}

async function pay(order_id: string, amount_fen: number): Promise<void> {
  await applyPaid(
    openDb(env.DB),
    { channel: 'alipay', order_id, amount_fen, provider_trade_no: `T-${order_id}`, paid_at_ms: Date.now() },
    { channel: 'alipay', headers: null, body: `out_trade_no=${order_id}` },
    Date.now(),
  );
}

/**
 * A ledger with every state the invariants speak of: pending, claimed (two credits in one
 * claim), voided by a refund, closed and unpaid. Every row is written by the product's own
 * code: payment and closing by the ledger, the hub by the admin API, the claim by the claims
 * path a hub's batch goes through, the refund by the refund path (the simulated gateway knows
 * no such trade, so the refund waits for the provider with its credit already voided).
 */
async function buildLedger(): Promise<void> {
  await seedDemoCampus();
  if ((await env.DB.prepare('SELECT 1 FROM orders WHERE id = ?').bind(PAID).first()) !== null) return;
  await insertOrder(PAID, 10_000);
  await insertOrder(PAID_2, 2_500, '330001');
  await insertOrder(CLAIMED_A, 5_000);
  await insertOrder(CLAIMED_B, 1_234);
  await insertOrder(REFUNDED, 7_700, 'T1001');
  await insertOrder(CLOSED, 3_000);
  await insertOrder(UNPAID, 4_000);
  await run(`UPDATE orders SET school_id = 'whovc' WHERE id = ?`, PAID_2);
  for (const [order_id, amount_fen] of [
    [PAID, 10_000],
    [PAID_2, 2_500],
    [CLAIMED_A, 5_000],
    [CLAIMED_B, 1_234],
    [REFUNDED, 7_700],
  ] as const) {
    await pay(order_id, amount_fen);
  }
  await applyClosed(openDb(env.DB), { channel: 'alipay', order_id: CLOSED }, null, Date.now());

  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer);
  const registered = await api(`/api/v1/admin/hubs/${HUB_ID}`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ school_id: 'bjtu-weihai', public_key: btoa(String.fromCharCode(...spki)) }),
  });
  expect(registered.status, await registered.clone().text()).toBeLessThan(300);

  const now_ms = Date.now();
  // Refunded before any hub holds it, so the Worker voids it itself.
  const refund = await requestRefund(env, REFUNDED, now_ms);
  expect(refund.kind).toBe('ok');
  // The hub pulls the feed: the school's active hub becomes the owner of the pending credits.
  for (let after = 0, pages = 0; pages < 20; pages++) {
    const page = await readChanges(env.DB, { hub_id: HUB_ID, school_id: 'bjtu-weihai' }, { after, limit: 1000 }, now_ms);
    if (page.next_after === after) break;
    after = page.next_after;
  }
  const claimed = await applyClaims(
    env.DB,
    { hub_id: HUB_ID, school_id: 'bjtu-weihai' },
    [
      {
        claim_id: CLAIM_ID,
        card_no: '20230001',
        terminal_id: 'pos-1',
        amount_fen: 6_234,
        credit_ids: [creditIdForOrder(CLAIMED_A), creditIdForOrder(CLAIMED_B)],
        card_terminal_id: '0000000000A1',
        balance_after_fen: 16_234,
        online_serial_after: 8,
        committed_at_ms: now_ms,
        proof: { kind: 'tac', tac: '0F1E2D3C' },
      },
    ],
    now_ms,
  );
  expect(claimed.results).toEqual([{ claim_id: CLAIM_ID, status: 'accepted' }]);
  const refund_row = await env.DB.prepare('SELECT id, state FROM refunds WHERE order_id = ?').bind(REFUNDED).first<{ id: string; state: string }>();
  expect(refund_row?.state).toBe('provider_pending');
  refund_id = refund_row!.id;
}

/** Asserts the audit reports exactly the named checks, each with a row naming `id`. */
function expectViolations(report: AuditReport, expected: Record<string, string>): void {
  const printed = report.violations.map(formatViolation);
  const checks = new Set(report.violations.map((violation) => violation.check));
  expect(checks, printed.join('\n')).toEqual(new Set(Object.keys(expected)));
  for (const [check, id] of Object.entries(expected)) {
    const found = report.violations.find((violation) => violation.check === check);
    expect(found, `expected ${check} in:\n${printed.join('\n')}`).toBeDefined();
    expect(found!.ids).toContain(id);
  }
}

const expectClean = expectLedgerClean;

describe('ledger audit', () => {
  beforeEach(buildLedger);

  it('passes a ledger built by the payment code, and counts what it holds', async () => {
    const report = await audit();
    expect(report.violations.map(formatViolation)).toEqual([]);
    expect(report.totals).toMatchObject({
      orders_paid: 5,
      orders_refunded: 0,
      credits_pending: 2,
      credits_claimed: 2,
      credits_voided: 1,
      claims: 1,
      pending_fen: 12_500,
    });
    // Applying the same payment again is a duplicate, not a second credit: still clean.
    await pay(PAID, 10_000);
    await expectClean();
  });

  it('names a paid order that has no credit', async () => {
    await run(`UPDATE orders SET status = 'paid', provider_trade_no = 'T-x' WHERE id = ?`, UNPAID);
    try {
      expectViolations(await audit(), { paid_order_without_credit: UNPAID });
    } finally {
      await run(`UPDATE orders SET status = 'unpaid', provider_trade_no = NULL WHERE id = ?`, UNPAID);
    }
    await expectClean();
  });

  it('names two credits for one order once the unique index is gone', async () => {
    // The database refuses the second credit on its own; the audit must see it if that guard is lost.
    await expect(
      run(
        `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, created_at_ms)
         VALUES ('C-second', ?, 'bjtu-weihai', '20230001', 10000, 'pending', 1)`,
        PAID,
      ),
    ).rejects.toThrow(/UNIQUE/);
    await run('DROP INDEX credits_order');
    try {
      await run(
        `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, created_at_ms)
         VALUES ('C-second', ?, 'bjtu-weihai', '20230001', 10000, 'pending', 1)`,
        PAID,
      );
      expectViolations(await audit(), { order_with_several_credits: 'C-second' });
    } finally {
      await run(`DELETE FROM credits WHERE id = 'C-second'`);
      await run('CREATE UNIQUE INDEX IF NOT EXISTS credits_order ON credits (order_id)');
    }
    await expectClean();
  });

  it('names one provider payment applied to a second order', async () => {
    // Another order row pointing at the same provider trade: the same money credited twice.
    await run(`UPDATE orders SET provider_trade_no = ? WHERE id = ?`, `T-${PAID}`, PAID_2);
    try {
      expectViolations(await audit(), { payment_applied_twice: PAID_2 });
    } finally {
      await run(`UPDATE orders SET provider_trade_no = ? WHERE id = ?`, `T-${PAID_2}`, PAID_2);
    }
    await expectClean();
  });

  it('names a credit whose amount differs from its order', async () => {
    await run('UPDATE credits SET amount_fen = 10001 WHERE id = ?', creditIdForOrder(PAID));
    try {
      const report = await audit();
      expectViolations(report, { credit_amount_mismatch: creditIdForOrder(PAID) });
      expect(report.violations[0]!.detail).toBe('credit 10001 fen, order 10000 fen');
    } finally {
      await run('UPDATE credits SET amount_fen = 10000 WHERE id = ?', creditIdForOrder(PAID));
    }
    await expectClean();
  });

  it('names a credit without a paid order, and a credit for another card', async () => {
    await run(`UPDATE orders SET status = 'closed' WHERE id = ?`, PAID);
    await run(`UPDATE credits SET card_no = '20230002' WHERE id = ?`, creditIdForOrder(PAID_2));
    try {
      expectViolations(await audit(), {
        credit_without_paid_order: creditIdForOrder(PAID),
        credit_card_mismatch: creditIdForOrder(PAID_2),
      });
    } finally {
      await run(`UPDATE orders SET status = 'paid' WHERE id = ?`, PAID);
      await run(`UPDATE credits SET card_no = '330001' WHERE id = ?`, creditIdForOrder(PAID_2));
    }
    await expectClean();
  });

  it('names a claimed credit that belongs to no claim', async () => {
    await run(`UPDATE credits SET state = 'claimed', claim_id = 'CL-missing' WHERE id = ?`, creditIdForOrder(PAID));
    try {
      const report = await audit();
      expectViolations(report, { claimed_credit_without_claim: creditIdForOrder(PAID) });
      expect(report.violations[0]!.detail).toContain('CL-missing');
    } finally {
      await run(`UPDATE credits SET state = 'pending', claim_id = NULL WHERE id = ?`, creditIdForOrder(PAID));
    }
    await expectClean();
  });

  it('names a claim without the card\'s proof of the write, or with a serial that does not prove it', async () => {
    const stored = await env.DB.prepare('SELECT proof_kind, proof_tac, online_serial_seen FROM claims WHERE id = ?').bind(CLAIM_ID).first();
    expect(stored).toEqual({ proof_kind: 'tac', proof_tac: '0F1E2D3C', online_serial_seen: null });
    await run('UPDATE claims SET proof_kind = NULL, proof_tac = NULL WHERE id = ?', CLAIM_ID);
    try {
      const report = await audit();
      expectViolations(report, { claim_without_card_proof: CLAIM_ID });
      expect(report.violations[0]!.detail).toBe('proof missing');
      // The serial seen at the next load is 7, but the load left the card at 8: not proven.
      await run("UPDATE claims SET proof_kind = 'serial', online_serial_seen = 7 WHERE id = ?", CLAIM_ID);
      expectViolations(await audit(), { claim_without_card_proof: CLAIM_ID });
      await run("UPDATE claims SET proof_kind = 'prove', proof_tac = NULL, online_serial_seen = NULL WHERE id = ?", CLAIM_ID);
      expectViolations(await audit(), { claim_without_card_proof: CLAIM_ID });
      await run("UPDATE claims SET proof_kind = 'serial', online_serial_seen = 8 WHERE id = ?", CLAIM_ID);
      await expectClean();
    } finally {
      await run("UPDATE claims SET proof_kind = 'tac', proof_tac = '0F1E2D3C', online_serial_seen = NULL WHERE id = ?", CLAIM_ID);
    }
    await expectClean();
  });

  it("names a claim whose amount is not the sum of its credits", async () => {
    await run('UPDATE claims SET amount_fen = 6000 WHERE id = ?', CLAIM_ID);
    try {
      const report = await audit();
      expectViolations(report, { claim_amount_mismatch: CLAIM_ID });
      expect(report.violations[0]!.detail).toBe('claim 6000 fen, its 2 credits 6234 fen');
    } finally {
      await run('UPDATE claims SET amount_fen = 6234 WHERE id = ?', CLAIM_ID);
    }
    await expectClean();
  });

  it("names a claim carrying another card's credit, and one from a hub of another school", async () => {
    await run(`UPDATE claims SET card_no = '20230002', hub_id = 'hub-unknown' WHERE id = ?`, CLAIM_ID);
    try {
      const report = await audit();
      // A claim from a hub that does not own its credits also breaks invariant 6.
      expectViolations(report, {
        claim_credit_other_card: CLAIM_ID,
        claim_from_foreign_hub: 'hub-unknown',
        credit_claimed_by_non_owner: CLAIM_ID,
      });
      // Both of the claim's credits are named.
      expect(report.violations.filter((violation) => violation.check === 'claim_credit_other_card')).toHaveLength(2);
    } finally {
      await run(`UPDATE claims SET card_no = '20230001', hub_id = ? WHERE id = ?`, HUB_ID, CLAIM_ID);
    }
    await expectClean();
  });

  it('names a voided credit whose order is not refunded, and a refunded order whose credit is not voided', async () => {
    await run(`UPDATE credits SET state = 'voided' WHERE id = ?`, creditIdForOrder(PAID));
    await run(`UPDATE orders SET status = 'refunded' WHERE id = ?`, PAID_2);
    try {
      expectViolations(await audit(), {
        voided_credit_order_not_refunded: creditIdForOrder(PAID),
        refunded_order_credit_not_voided: PAID_2,
        // Its hub owns it and never answered `voided`: invariant 6 as well.
        credit_voided_by_non_owner: creditIdForOrder(PAID),
      });
    } finally {
      await run(`UPDATE credits SET state = 'pending' WHERE id = ?`, creditIdForOrder(PAID));
      await run(`UPDATE orders SET status = 'paid' WHERE id = ?`, PAID_2);
    }
    await expectClean();
  });

  it('accepts a refund waiting for the provider and a completed one, and names a refund the ledger contradicts', async () => {
    // The base ledger holds a voided credit whose refund waits for the provider: clean.
    await expectClean();
    // A refund marked done while its order is still paid: money returned, never recorded.
    await run(`UPDATE refunds SET state = 'refunded' WHERE id = ?`, refund_id);
    try {
      expectViolations(await audit(), {
        voided_credit_order_not_refunded: creditIdForOrder(REFUNDED),
        refund_record_mismatch: refund_id,
      });
      // What the provider's confirmation writes: the order refunded with its refund.
      await run(`UPDATE orders SET status = 'refunded', refunded_at_ms = 1 WHERE id = ?`, REFUNDED);
      await expectClean();
    } finally {
      await run(`UPDATE orders SET status = 'paid', refunded_at_ms = NULL WHERE id = ?`, REFUNDED);
      await run(`UPDATE refunds SET state = 'provider_pending' WHERE id = ?`, refund_id);
    }
    await expectClean();
  });

  it('names invariant 6: a credit loaded or voided by a hub that does not own it, an unknown owner, two active hubs', async () => {
    const claimed = creditIdForOrder(CLAIMED_A);
    const pending = creditIdForOrder(PAID);
    const voided = creditIdForOrder(REFUNDED);
    await run(`INSERT INTO hubs (id, school_id, public_key, created_at_ms, updated_at_ms, state)
               VALUES ('hub-audit-other', 'bjtu-weihai', 'audit-other-key', 0, 0, 'standby')`);
    try {
      // The claim came from HUB_ID, but the ledger says another hub owns the credit.
      await run(`UPDATE credits SET owner_hub_id = 'hub-audit-other' WHERE id = ?`, claimed);
      expectViolations(await audit(), { credit_claimed_by_non_owner: claimed });
      await run(`UPDATE credits SET owner_hub_id = ? WHERE id = ?`, HUB_ID, claimed);
      // Voided by the Worker although a hub owned it (a refund that did not wait for the owner).
      await run(`UPDATE credits SET owner_hub_id = ? WHERE id = ?`, HUB_ID, voided);
      expectViolations(await audit(), { credit_voided_by_non_owner: voided });
      // ... or voided by another hub's answer.
      await run(`UPDATE credits SET void_hub_id = 'hub-audit-other' WHERE id = ?`, voided);
      expectViolations(await audit(), { credit_voided_by_non_owner: voided });
      await run(`UPDATE credits SET owner_hub_id = NULL, void_hub_id = NULL WHERE id = ?`, voided);
      // An owner that is no hub of the school, and a void request nobody can answer.
      await run(`UPDATE credits SET owner_hub_id = 'hub-gone' WHERE id = ?`, pending);
      expectViolations(await audit(), { credit_owner_not_school_hub: pending });
      await run(`UPDATE credits SET owner_hub_id = NULL, void_requested_at_ms = 1 WHERE id = ?`, pending);
      expectViolations(await audit(), { void_requested_without_owner: pending });
      await run(`UPDATE credits SET owner_hub_id = ?, void_requested_at_ms = NULL WHERE id = ?`, HUB_ID, pending);
      // Two active hubs, once the index that forbids it is gone.
      await run('DROP INDEX hubs_school_active');
      await run(`UPDATE hubs SET state = 'active' WHERE id = 'hub-audit-other'`);
      expectViolations(await audit(), { school_with_two_active_hubs: 'hub-audit-other' });
    } finally {
      await run(`UPDATE credits SET owner_hub_id = ? WHERE id IN (?, ?)`, HUB_ID, claimed, pending);
      await run(`UPDATE credits SET owner_hub_id = NULL, void_hub_id = NULL, void_requested_at_ms = NULL WHERE id = ?`, voided);
      await run(`DELETE FROM hubs WHERE id = 'hub-audit-other'`);
      await run(`CREATE UNIQUE INDEX IF NOT EXISTS hubs_school_active ON hubs (school_id) WHERE state = 'active'`);
    }
    await expectClean();
  });

  it('accepts a card-office settlement as the proof of a claim only with its decision recorded', async () => {
    await run(`UPDATE claims SET proof_kind = 'office' WHERE id = ?`, CLAIM_ID);
    try {
      expectViolations(await audit(), { claim_without_card_proof: CLAIM_ID });
      await run(
        `INSERT INTO credit_settlements (credit_id, school_id, hub_id, decision, evidence, actor, claim_id, settled_at_ms)
         VALUES (?, 'bjtu-weihai', ?, 'claimed', 'card read: serial 8', 'office', ?, 1)`,
        creditIdForOrder(CLAIMED_A),
        HUB_ID,
        CLAIM_ID,
      );
      await expectClean();
    } finally {
      await run(`UPDATE claims SET proof_kind = 'tac' WHERE id = ?`, CLAIM_ID);
      await run(`DELETE FROM credit_settlements WHERE claim_id = ?`, CLAIM_ID);
    }
    await expectClean();
  });

  it('names a credit the hub could never hear of: missing from the changes feed', async () => {
    const [change] = (
      await env.DB.prepare(`SELECT * FROM changes WHERE kind = 'credit' AND ref = ?`).bind(creditIdForOrder(PAID)).all<Record<string, string | number>>()
    ).results;
    expect(change).toBeDefined();
    await run('DELETE FROM changes WHERE seq = ?', change!.seq!);
    try {
      const report = await audit();
      expectViolations(report, { credit_missing_from_hub_feed: creditIdForOrder(PAID) });
      expect(report.violations[0]!.detail).toBe('no credit change');
    } finally {
      await run(
        'INSERT INTO changes (seq, school_id, kind, ref, created_at_ms) VALUES (?, ?, ?, ?, ?)',
        change!.seq!,
        change!.school_id!,
        change!.kind!,
        change!.ref!,
        change!.created_at_ms!,
      );
    }
    await expectClean();
  });

  it('bounds what it reports per check', async () => {
    const now_ms = Date.now();
    const statements = [];
    for (let i = 0; i < 120; i++) {
      statements.push(
        env.DB.prepare(
          `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
           VALUES (?, 'bjtu-weihai', '20230001', 100, 'alipay', 'paid', ?, ?)`,
        ).bind(`Y20261122BULK${String(i).padStart(6, '0')}`, now_ms, now_ms),
      );
    }
    await env.DB.batch(statements);
    try {
      const report = await audit();
      expect(report.violations).toHaveLength(100);
      expect(new Set(report.violations.map((violation) => violation.check))).toEqual(new Set(['paid_order_without_credit']));
    } finally {
      await run(`DELETE FROM orders WHERE id LIKE 'Y20261122BULK%'`);
    }
    await expectClean();
  });
});
