// The demo campus `npm start` seeds and the tests use: the three schools of the original
// Alipay screens, all in 威海, with a few cards of each kind.
import type { CardKind, CardStatus } from '../protocol/card.ts';

export interface DemoSchool {
  id: string;
  name: string;
  city: string;
  initial: string;
  max_amount_fen: number;
}

export interface DemoCard {
  school_id: string;
  card_no: string;
  holder_name: string;
  kind: CardKind;
  status: CardStatus;
  /** The chip's application serial number, written at issuance (16 upper-case hex). */
  asn: string;
}

export const DEMO_SCHOOLS: readonly DemoSchool[] = [
  { id: 'bjtu-weihai', name: '北京交通大学威海校区', city: '威海', initial: 'B', max_amount_fen: 100_000 },
  { id: 'hrbust-rongcheng', name: '哈尔滨理工大学(荣成)', city: '威海', initial: 'H', max_amount_fen: 100_000 },
  { id: 'whovc', name: '威海海洋职业学院', city: '威海', initial: 'W', max_amount_fen: 100_000 },
];

export const DEMO_CARDS: readonly DemoCard[] = [
  { school_id: 'bjtu-weihai', card_no: '20230001', holder_name: '张三', kind: 'student', status: 'active', asn: '0100000020230001' },
  { school_id: 'bjtu-weihai', card_no: '20230002', holder_name: '李小红', kind: 'student', status: 'active', asn: '0100000020230002' },
  { school_id: 'bjtu-weihai', card_no: 'T1001', holder_name: '王老师', kind: 'staff', status: 'active', asn: '01000000000A1001' },
  { school_id: 'bjtu-weihai', card_no: '999', holder_name: '访客', kind: 'visitor', status: 'active', asn: '0100000000000999' },
  { school_id: 'bjtu-weihai', card_no: 'F000999', holder_name: '赵六', kind: 'visitor', status: 'active', asn: '01000000F0000999' },
  { school_id: 'bjtu-weihai', card_no: '20230003', holder_name: '陈挂失', kind: 'student', status: 'lost', asn: '0100000020230003' },
  { school_id: 'hrbust-rongcheng', card_no: '1900123', holder_name: '刘洋', kind: 'student', status: 'active', asn: '0200000001900123' },
  { school_id: 'hrbust-rongcheng', card_no: 'S2001', holder_name: '周教授', kind: 'staff', status: 'active', asn: '02000000000B2001' },
  { school_id: 'whovc', card_no: '330001', holder_name: 'Li Lei', kind: 'student', status: 'active', asn: '0300000000330001' },
  { school_id: 'whovc', card_no: '330002', holder_name: '韩梅梅', kind: 'student', status: 'active', asn: '0300000000330002' },
];
