// DESIGN section 4's normalisation table: what people type (or what the card office prints) →
// the number the registry knows, and the name forms that must and must not match.
import { describe, expect, it } from 'vitest';
import { holderNameKey, maskHolderName, normaliseCardNo } from '../../protocol/card.ts';

const CARD_NUMBERS: [typed: string, expected: string | null][] = [
  ['999', '999'],
  ['SN:000999', '999'],
  ['SN：000999', '999'],
  ['sn:000999', '999'],
  ['ｓｎ：０００９９９', '999'],
  [' SN : 000999 ', '999'],
  ['SN:000000', '0'],
  [`SN:${'0'.repeat(40)}7`, '7'],
  ['F000999', 'F000999'],
  ['f000999', 'F000999'],
  ['ｆ０００９９９', 'F000999'],
  ['SN000999', 'SN000999'],
  ['0999', '0999'],
  ['２０２３０００１', '20230001'],
  [' 20230001 ', '20230001'],
  ['2023 0001', '20230001'],
  ['2023\u30000001', '20230001'],
  ['20230001\n', '20230001'],
  ['\t20230001', '20230001'],
  ['t1001', 'T1001'],
  ['T-1001', 'T-1001'],
  ['A'.repeat(32), 'A'.repeat(32)],
  // Not card numbers at all.
  ['', null],
  ['   ', null],
  ['SN:', null],
  ['SN:12A', null],
  ['SN:-1', null],
  ['SN::1', null],
  [`SN:${'1'.repeat(33)}`, null],
  ['A'.repeat(33), null],
  ['-123', null],
  ['20230001!', null],
  ['2023.0001', null],
  ["1' OR '1'='1", null],
  ['%', null],
  ['张三', null],
  ['①②③', null],
];

describe('normaliseCardNo', () => {
  it.each(CARD_NUMBERS)('%j → %j', (typed, expected) => {
    expect(normaliseCardNo(typed)).toBe(expected);
  });

  it('is idempotent: a normalised number normalises to itself', () => {
    for (const [, expected] of CARD_NUMBERS) {
      if (expected !== null) expect(normaliseCardNo(expected)).toBe(expected);
    }
  });
});

describe('holder names', () => {
  it.each([
    ['张三', '张三'],
    ['张 三', '张三'],
    [' 张三 ', '张三'],
    ['张\u3000三', '张三'],
    ['Li Lei', 'LiLei'],
    ['Ｌｉ　Ｌｅｉ', 'LiLei'],
    ['ﾊﾝｶｸ', 'ハンカク'],
  ])('key of %j is %j', (name, key) => {
    expect(holderNameKey(name)).toBe(key);
  });

  it('keeps names apart that are different names', () => {
    expect(holderNameKey('張三')).not.toBe(holderNameKey('张三'));
    expect(holderNameKey('张三')).not.toBe(holderNameKey('张三三'));
  });

  it.each([
    ['张三', '张*'],
    ['张三丰', '张**'],
    ['张', '张*'],
    ['Li Lei', 'L****'],
    ['𠮷野家', '𠮷**'],
    ['', ''],
  ])('masks %j as %j', (name, masked) => {
    expect(maskHolderName(name)).toBe(masked);
  });
});
