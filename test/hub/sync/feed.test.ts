// The changes feed as the hub accepts it (hub/sync/feed.ts): a page that is malformed, out of
// order, or whose cursor does not cover it is refused whole, before anything reaches the store.
import { describe, expect, it } from 'vitest';
import { parseChangesPage } from '../../../hub/sync/feed.ts';

const card = (seq: number, asn: string | null = '0100000020230001') => ({ seq, kind: 'card', card_no: '20230001', status: 'active', card_kind: 'student', asn });
const credit = (seq: number) => ({ seq, kind: 'credit', credit_id: `cr_${seq}`, order_id: `ord_${seq}`, card_no: '20230001', amount_fen: 100, state: 'pending', created_at_ms: 1 });

describe('changes pages', () => {
  it('accepts an ordered page above the cursor, with cards carrying their asn or none', () => {
    const page = parseChangesPage({ changes: [card(11), credit(12), card(13, null), { seq: 14, kind: 'void', credit_id: 'cr_12', card_no: '20230001' }], next_after: 14, has_more: false }, 10);
    expect(page.changes.map((change) => change.seq)).toEqual([11, 12, 13, 14]);
    expect(page.changes[0]).toMatchObject({ kind: 'card', asn: '0100000020230001' });
  });

  it('refuses pages out of order, at or below the cursor, or with a cursor that does not cover them', () => {
    expect(() => parseChangesPage({ changes: [card(12), credit(11)], next_after: 12, has_more: false }, 10)).toThrow(/out of order: seq 11 after 12/);
    expect(() => parseChangesPage({ changes: [card(12), credit(12)], next_after: 12, has_more: false }, 10)).toThrow(/out of order/);
    expect(() => parseChangesPage({ changes: [card(10)], next_after: 10, has_more: false }, 10)).toThrow(/out of order: seq 10 after 10/);
    expect(() => parseChangesPage({ changes: [card(11), credit(15)], next_after: 14, has_more: true }, 10)).toThrow(/next_after 14 is below its last seq 15/);
  });

  it('refuses malformed pages: a bad asn, a bad amount, an unknown kind, a missing field', () => {
    const malformed: unknown[] = [
      { changes: [card(11, '01000000f0000999')], next_after: 11, has_more: false },
      { changes: [card(11, '01000000')], next_after: 11, has_more: false },
      { changes: [{ ...card(11), asn: undefined }], next_after: 11, has_more: false },
      { changes: [{ ...credit(11), amount_fen: 0 }], next_after: 11, has_more: false },
      { changes: [{ ...credit(11), amount_fen: 1.5 }], next_after: 11, has_more: false },
      { changes: [{ ...credit(11), state: 'reserved' }], next_after: 11, has_more: false },
      { changes: [{ seq: 11, kind: 'refund', credit_id: 'x', card_no: 'y' }], next_after: 11, has_more: false },
      { changes: [card(11)], has_more: false },
      { changes: 'none', next_after: 11, has_more: false },
      null,
    ];
    for (const page of malformed) expect(() => parseChangesPage(page, 10), JSON.stringify(page)).toThrow(/changes page is malformed/);
  });
});
