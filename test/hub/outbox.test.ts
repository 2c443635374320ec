// The outbox as batches for POST /api/v1/hub/claims (hub/ledger/outbox.ts), on a real store:
// a batch is cut at CLAIMS_BATCH_MAX claims or at CLAIMS_BATCH_BYTES_MAX bytes of request JSON,
// whichever comes first, so a backlog of claims carrying many credits each still fits under
// the Worker's body limit and drains, in commit order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HubLedger } from '../../hub/ledger/index.ts';
import { openDatabase } from '../../hub/store/schema.ts';
import { CLAIM_CREDITS_MAX, CLAIMS_BATCH_BYTES_MAX, CLAIMS_BATCH_MAX, HUB_BODY_BYTES_MAX, type ClaimsRequest, type HubClaim } from '../../protocol/hub.ts';
import { PURSE_LIMIT_FEN_DEFAULT } from '../../protocol/pos.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function claim(i: number, credits: number): HubClaim {
  return {
    claim_id: `clm_${String(i).padStart(24, '0')}`,
    card_no: `C${i}`,
    terminal_id: 'till-1',
    card_terminal_id: '000000000001',
    amount_fen: credits,
    // Credit ids as long as the protocol allows (64 characters).
    credit_ids: Array.from({ length: credits }, (_, k) => `cr_${String(i * 1000 + k).padStart(61, '0')}`),
    balance_after_fen: credits,
    online_serial_after: 1,
    committed_at_ms: 1_700_000_000_000 + i,
    proof: { kind: 'tac', tac: '0A1B2C3D' },
  };
}

it('cuts by bytes before the count when claims are large, by count when small, oldest first, and every claim is sent once', () => {
  const db = openDatabase({ path: path.join(dir, 'hub.db'), busy_timeout_ms: 1_000 });
  const insert = db.prepare('INSERT INTO outbox (claim_id, body) VALUES (?, ?)');
  // 600 claims of CLAIM_CREDITS_MAX credits (about 7 kB each), then 700 of one credit.
  const all = [...Array.from({ length: 600 }, (_, i) => claim(i, CLAIM_CREDITS_MAX)), ...Array.from({ length: 700 }, (_, i) => claim(600 + i, 1))];
  db.exec('BEGIN');
  for (const c of all) insert.run(c.claim_id, JSON.stringify(c));
  db.exec('COMMIT');
  // Opened after the rows are in, as a hub restarting with a backlog: it counts them at start.
  const ledger = new HubLedger(db, { write_window_ms: 1_000, purse_limit_fen: { student: PURSE_LIMIT_FEN_DEFAULT, staff: PURSE_LIMIT_FEN_DEFAULT, visitor: PURSE_LIMIT_FEN_DEFAULT }, now_ms: Date.now });
  expect(ledger.outboxDepth).toBe(all.length);
  const sent: string[] = [];
  const sizes: { claims: number; bytes: number }[] = [];
  for (let batch = 0; batch < 100; batch++) {
    const claims = ledger.outboxBatch(CLAIMS_BATCH_MAX, CLAIMS_BATCH_BYTES_MAX);
    if (claims.length === 0) break;
    const request: ClaimsRequest = { claims };
    sizes.push({ claims: claims.length, bytes: Buffer.byteLength(JSON.stringify(request)) });
    sent.push(...claims.map((c) => c.claim_id));
    ledger.ackOutbox(claims.map((c) => ({ claim_id: c.claim_id, status: 'accepted' })), new Map());
  }
  db.close();
  expect(sent).toEqual(all.map((c) => c.claim_id));
  for (const size of sizes) expect(size.bytes).toBeLessThanOrEqual(CLAIMS_BATCH_BYTES_MAX);
  expect(CLAIMS_BATCH_BYTES_MAX).toBeLessThan(HUB_BODY_BYTES_MAX);
  // The large claims: cut by bytes, well before 500, each batch nearly full.
  expect(sizes[0]!.claims).toBeLessThan(CLAIMS_BATCH_MAX);
  expect(sizes[0]!.bytes).toBeGreaterThan(CLAIMS_BATCH_BYTES_MAX * 0.99);
  // The small ones: cut by count.
  expect(sizes.at(-2)!.claims).toBe(CLAIMS_BATCH_MAX);
});
