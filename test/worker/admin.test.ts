import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { AdminCreditsResponse, AdminOrdersResponse, CardImportResponse, School, SchoolsResponse } from '../../protocol/api.ts';
import { CsvRecordReader, upsertCards, type CsvRecord } from '../../worker/cards/import.ts';
import { openDb } from '../../worker/db/client.ts';
import { ApiError } from '../../worker/http/errors.ts';
import { ADMIN_AUTH, api } from './helpers/seed.ts';
import {
  fetchWithConfig,
  freshSchool,
  insertCredit,
  insertOrder,
  ledgerCounts,
  postFrom,
  testOrderId,
  uniqueIp,
  type LedgerOrder,
} from './helpers/fixtures.ts';

function putSchool(school_id: string, body: unknown, headers: Record<string, string> = ADMIN_AUTH): Promise<Response> {
  return api(`/api/v1/admin/schools/${school_id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function importCsv(school_id: string, csv: string | Uint8Array, type = 'text/csv; charset=utf-8'): Promise<Response> {
  return api(`/api/v1/admin/schools/${school_id}/cards`, {
    method: 'POST',
    headers: { 'content-type': type, ...ADMIN_AUTH },
    body: csv,
  });
}

async function cardsOf(school_id: string) {
  const rows = await env.DB.prepare('SELECT card_no, holder_name, kind, status FROM cards WHERE school_id = ? ORDER BY card_no')
    .bind(school_id)
    .all();
  return rows.results;
}

async function newSchool(): Promise<string> {
  const school_id = `a-${crypto.randomUUID().slice(0, 8)}`;
  const res = await putSchool(school_id, { name: '测试大学', city: '威海', initial: 'C' });
  expect(res.status).toBe(201);
  return school_id;
}

describe('admin authentication', () => {
  const routes: [string, string, RequestInit][] = [
    ['PUT', '/api/v1/admin/schools/x-school', { headers: { 'content-type': 'application/json' }, body: '{"name":"X","city":"Y","initial":"X"}' }],
    ['POST', '/api/v1/admin/schools/bjtu-weihai/cards', { headers: { 'content-type': 'text/csv' }, body: '1,A,student,active\n' }],
    ['GET', '/api/v1/admin/orders', {}],
    ['GET', '/api/v1/admin/credits?state=pending', {}],
    // Unknown admin paths are refused before anything says whether they exist.
    ['GET', '/api/v1/admin/anything', {}],
  ];
  const badHeaders: Record<string, string>[] = [
    {},
    { authorization: 'Bearer wrong-token-0123456789abcdef' },
    { authorization: `Bearer ${env.ADMIN_TOKEN}x` },
    { authorization: `Bearer ${env.ADMIN_TOKEN!.slice(0, -1)}` },
    { authorization: `Basic ${btoa(`admin:${env.ADMIN_TOKEN}`)}` },
    { authorization: `${env.ADMIN_TOKEN}` },
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${'x'.repeat(5000)}` },
  ];

  it('refuses every admin route without the right bearer token, and changes nothing', async () => {
    const counts = await ledgerCounts();
    for (const [method, path, init] of routes) {
      for (const headers of badHeaders) {
        const res = await api(path, { ...init, method, headers: { ...(init.headers as Record<string, string>), ...headers } });
        expect(res.status, `${method} ${path} ${JSON.stringify(headers).slice(0, 60)}`).toBe(401);
        expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
      }
    }
    expect(await ledgerCounts()).toEqual(counts);
  });

  it('lets the right token in, whatever the case of "Bearer"', async () => {
    expect((await api('/api/v1/admin/orders', { headers: ADMIN_AUTH })).status).toBe(200);
    expect((await api('/api/v1/admin/orders', { headers: { authorization: `bearer ${env.ADMIN_TOKEN}` } })).status).toBe(200);
  });

  it('refuses everything when ADMIN_TOKEN is not configured, or too short to be a secret', async () => {
    for (const [configured, sent] of [
      [undefined, env.ADMIN_TOKEN],
      ['', ''],
      ['short', 'short'],
    ] as const) {
      const res = await fetchWithConfig({ ADMIN_TOKEN: configured }, '/api/v1/admin/orders', { headers: { authorization: `Bearer ${sent}` } });
      expect(res.status, String(configured)).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
  });
});

describe('PUT /api/v1/admin/schools/{school_id}', () => {
  it('creates a school the picker lists, then updates it and keeps an omitted ceiling', async () => {
    const school_id = `s-${crypto.randomUUID().slice(0, 8)}`;
    const created = await putSchool(school_id, { name: '山东大学(威海)', city: '威海', initial: 'S', max_amount_fen: 200_000 });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ id: school_id, name: '山东大学(威海)', city: '威海', initial: 'S', max_amount_fen: 200_000 });
    const updated = await putSchool(school_id, { name: '山东大学威海校区', city: '威海', initial: 'S' });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ name: '山东大学威海校区', max_amount_fen: 200_000 });
    const listed = (await (await api(`/api/v1/schools?q=${encodeURIComponent('山东大学威海')}`)).json()) as SchoolsResponse;
    expect(listed.schools.map((s: School) => s.id)).toEqual([school_id]);
    const fresh = `s-${crypto.randomUUID().slice(0, 8)}`;
    expect(await (await putSchool(fresh, { name: 'X', city: 'Y', initial: 'X' })).json()).toMatchObject({ max_amount_fen: 100_000 });
  });

  it('refuses a bad school id or body with a 400 and creates nothing', async () => {
    const counts = await ledgerCounts();
    const cases: [string, unknown][] = [
      ['Bad_ID', { name: 'X', city: 'Y', initial: 'X' }],
      ['ok-id', { name: '', city: 'Y', initial: 'X' }],
      ['ok-id', { name: 'X', city: 'Y', initial: 'xx' }],
      ['ok-id', { name: 'X', city: 'Y', initial: 'X', max_amount_fen: 0 }],
      ['ok-id', { name: 'X', city: 'Y', initial: 'X', max_amount_fen: 10_000_001 }],
      ['ok-id', { name: 'X', city: 'Y', initial: 'X', admin: true }],
    ];
    for (const [id, body] of cases) {
      const res = await putSchool(id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json()) as object).toHaveProperty('error.code');
    }
    expect(await ledgerCounts()).toEqual(counts);
  });
});

describe('POST /api/v1/admin/schools/{school_id}/cards', () => {
  it('imports good rows and names every bad line with its reason', async () => {
    const school_id = await newSchool();
    const csv = [
      '\uFEFFcard_no,name,kind,status', // 1: header, after a BOM
      '20240001,张三,student,active', // 2
      '"20240002","李 小红",student,active', // 3: quoted
      'SN：000123,访客,visitor,active', // 4: serial → 123
      '２０２４０００３,"王""老""师",staff,frozen', // 5: full-width digits, doubled quotes
      '20240004,"Li, Lei",STUDENT,Lost', // 6: comma inside quotes, case-insensitive words
      '', // 7: blank, skipped
      '20240005,赵六,teacher,active', // 8: bad kind
      '20240006,钱七,student,expired', // 9: bad status
      '20240007,  ,student,active', // 10: empty name
      '2024-!!,孙八,student,active', // 11: bad card number
      '20240001,张三二号,student,active', // 12: duplicate of line 2
      '20240008,周九,student,active,0100000020240008,extra', // 13: too many columns
      '20240009,吴十,student', // 14: too few columns
      '"20240010,郑,student,active', // 15: unterminated quote, runs to the end
    ].join('\r\n');
    const res = await importCsv(school_id, csv);
    expect(res.status).toBe(200);
    const body = (await res.json()) as CardImportResponse;
    expect(body.imported).toBe(5);
    expect(body.rejected.map((r) => r.line)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    const reasons = body.rejected.map((r) => r.reason);
    expect(reasons[0]).toMatch(/bad kind "teacher"/);
    expect(reasons[1]).toMatch(/bad status "expired"/);
    expect(reasons[2]).toBe('empty name');
    expect(reasons[3]).toMatch(/bad card number/);
    expect(reasons[4]).toMatch(/duplicate in file.*line 2/);
    expect(reasons[5]).toMatch(/too many columns/);
    expect(reasons[6]).toMatch(/too few columns/);
    expect(reasons[7]).toMatch(/unterminated/);
    expect(await cardsOf(school_id)).toEqual([
      { card_no: '123', holder_name: '访客', kind: 'visitor', status: 'active' },
      { card_no: '20240001', holder_name: '张三', kind: 'student', status: 'active' },
      { card_no: '20240002', holder_name: '李 小红', kind: 'student', status: 'active' },
      { card_no: '20240003', holder_name: '王"老"师', kind: 'staff', status: 'frozen' },
      { card_no: '20240004', holder_name: 'Li, Lei', kind: 'student', status: 'lost' },
    ]);
    // The imported registry is what lookups match against.
    const found = await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '李小红', card_no: '20240002' });
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ holder_name_masked: '李**' });
  });

  it('upserts: a changed status reaches the hub feed, an unchanged row changes nothing', async () => {
    const school_id = await newSchool();
    const feed = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM changes WHERE school_id = ? AND kind = 'card'").bind(school_id).first<{ n: number }>())!.n;
    await importCsv(school_id, '1001,甲,student,active\n1002,乙,student,active\n');
    expect(await feed()).toBe(2);
    const again = (await (await importCsv(school_id, '1001,甲,student,active\n1002,乙,student,lost\n')).json()) as CardImportResponse;
    expect(again).toEqual({ imported: 2, rejected: [] });
    expect(await feed()).toBe(3);
    expect(await cardsOf(school_id)).toEqual([
      { card_no: '1001', holder_name: '甲', kind: 'student', status: 'active' },
      { card_no: '1002', holder_name: '乙', kind: 'student', status: 'lost' },
    ]);
  });

  it('takes the chip asn as a fifth column: normalised, unique per school, a bad one a rejected line', async () => {
    const school_id = await newSchool();
    const other_school = await newSchool();
    const asns = async (id: string) =>
      (await env.DB.prepare('SELECT card_no, asn FROM cards WHERE school_id = ? ORDER BY card_no').bind(id).all()).results;
    const feed = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM changes WHERE school_id = ? AND kind = 'card'").bind(school_id).first<{ n: number }>())!.n;
    const first = await importCsv(
      school_id,
      [
        'card_no,name,kind,status,asn', // 1
        '5001,甲,student,active, 01000000abcdef01 ', // 2: trimmed, upper-cased
        '5002,乙,student,active,01000000ABCDEF0', // 3: 15 digits
        '5003,丙,student,active,01000000ABCDEFGH', // 4: not hex
        '5004,丁,student,active,01000000ABCDEF01', // 5: same chip as line 2
        '5005,戊,student,active,', // 6: no asn yet
        '5006,己,student,active', // 7: a four-column row
      ].join('\n'),
    );
    const body = (await first.json()) as CardImportResponse;
    expect(body.imported).toBe(3);
    expect(body.rejected).toEqual([
      { line: 3, reason: 'bad asn "01000000ABCDEF0", expected 16 hex digits' },
      { line: 4, reason: 'bad asn "01000000ABCDEFGH", expected 16 hex digits' },
      { line: 5, reason: 'duplicate in file: asn 01000000ABCDEF01 is also on line 2' },
    ]);
    expect(await asns(school_id)).toEqual([
      { card_no: '5001', asn: '01000000ABCDEF01' },
      { card_no: '5005', asn: null },
      { card_no: '5006', asn: null },
    ]);
    const changes_before = await feed();

    // Another card of the school cannot take a chip that is registered; another school's card can.
    const taken = (await (await importCsv(school_id, '5005,戊,student,active,01000000ABCDEF01\n')).json()) as CardImportResponse;
    expect(taken).toEqual({ imported: 0, rejected: [{ line: 1, reason: 'asn 01000000ABCDEF01 belongs to card 5001' }] });
    expect(await (await importCsv(other_school, '5005,戊,student,active,01000000ABCDEF01\n')).json()).toEqual({ imported: 1, rejected: [] });

    // A row without an asn keeps the card's; a new chip for the card reaches the hub feed.
    await importCsv(school_id, '5001,甲,student,active\n');
    expect((await asns(school_id))[0]).toEqual({ card_no: '5001', asn: '01000000ABCDEF01' });
    expect(await feed()).toBe(changes_before);
    await importCsv(school_id, '5001,甲,student,active,01000000ABCDEF02\n5005,戊,student,active,01000000ABCDEF01\n');
    expect(await asns(school_id)).toEqual([
      { card_no: '5001', asn: '01000000ABCDEF02' },
      { card_no: '5005', asn: '01000000ABCDEF01' },
      { card_no: '5006', asn: null },
    ]);
    expect(await feed()).toBe(changes_before + 2);
    // The other way round (taken before its card lets go of it) is refused; the rest is imported.
    const late = (await (await importCsv(school_id, '5006,己,student,active,01000000ABCDEF02\n5001,甲,student,active,01000000ABCDEF03\n')).json()) as CardImportResponse;
    expect(late).toEqual({ imported: 1, rejected: [{ line: 1, reason: 'asn 01000000ABCDEF02 belongs to card 5001' }] });
    expect((await asns(school_id)).map((row) => row.asn)).toEqual(['01000000ABCDEF03', '01000000ABCDEF01', null]);
  });

  it('answers 409, not 500, when an asn is taken between the check and the write', async () => {
    // Two imports of one school racing: the second writes an asn the first just gave away.
    const school_id = await newSchool();
    await importCsv(school_id, '6001,甲,student,active,0600000000000001\n');
    const row = { line: 1, card_no: '6002', holder_name: '乙', kind: 'student' as const, status: 'active' as const, asn: '0600000000000001' };
    const error = await upsertCards(openDb(env.DB), school_id, [row], Date.now()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: 'conflict' });
    expect((await cardsOf(school_id)).map((card) => card.card_no)).toEqual(['6001']);
  });

  it('imports thousands of rows across many statements and batches', async () => {
    const school_id = await newSchool();
    const rows = Array.from({ length: 2_345 }, (_, i) => `${300_000 + i},持卡人${i},student,active`);
    const res = await importCsv(school_id, `card_no,name,kind,status\n${rows.join('\n')}`);
    expect(await res.json()).toEqual({ imported: 2_345, rejected: [] });
    const count = await env.DB.prepare('SELECT count(*) AS n FROM cards WHERE school_id = ?').bind(school_id).first();
    expect(count).toMatchObject({ n: 2_345 });
    const last = await env.DB.prepare("SELECT holder_name FROM cards WHERE school_id = ? AND card_no = '302344'").bind(school_id).first();
    expect(last).toMatchObject({ holder_name: '持卡人2344' });
  });

  it('refuses the whole file past the row limit, not UTF-8, or not CSV, and imports nothing', async () => {
    const school_id = await newSchool();
    const counts = await ledgerCounts();
    const tooMany = Array.from({ length: 50_001 }, (_, i) => `${i + 1},N,student,active`).join('\n');
    const over = await importCsv(school_id, tooMany);
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    // "张三" in GBK: not UTF-8.
    const gbk = new Uint8Array([0x31, 0x2c, 0xd5, 0xc5, 0xc8, 0xfd, 0x2c, 0x73, 0x2c, 0x61, 0x0a]);
    const notUtf8 = await importCsv(school_id, gbk);
    expect(notUtf8.status).toBe(400);
    expect(await notUtf8.json()).toMatchObject({ error: { code: 'invalid_body' } });
    for (const type of ['application/json', 'text/plain', 'text/csv; charset=gbk', 'text/csvx']) {
      const res = await importCsv(school_id, '1,A,student,active\n', type);
      expect(res.status, type).toBe(415);
      expect(await res.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
    }
    const unknownSchool = await importCsv('no-such-school', '1,A,student,active\n');
    expect(unknownSchool.status).toBe(404);
    expect(await unknownSchool.json()).toMatchObject({ error: { code: 'school_not_found' } });
    expect(await ledgerCounts()).toEqual(counts);
  });
});

describe('GET /api/v1/admin/orders and /credits', () => {
  async function listing<T>(path: string): Promise<T> {
    const res = await api(path, { headers: ADMIN_AUTH });
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  }

  it('filters by status, school and card, pages with a cursor, and maps the public status', async () => {
    const school_id = await freshSchool();
    const base_ms = Date.now() - 100_000;
    const orders: LedgerOrder[] = [];
    for (let i = 0; i < 5; i++) {
      const order: LedgerOrder = {
        order_id: testOrderId(base_ms + i * 1000),
        school_id,
        card_no: i < 3 ? '20230001' : 'F000999',
        amount_fen: 100 * (i + 1),
        status: i === 4 ? 'unpaid' : 'paid',
        created_at_ms: base_ms + i * 1000,
        paid_at_ms: i === 4 ? null : base_ms + i * 1000 + 10,
      };
      await insertOrder(order);
      if (order.status === 'paid') await insertCredit(order, i === 0 ? { state: 'claimed', claimed_at_ms: base_ms + 50_000 } : { state: 'pending' });
      orders.push(order);
    }
    const newestFirst = [...orders].reverse().map((o) => o.order_id);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const body: AdminOrdersResponse = await listing(`/api/v1/admin/orders?school_id=${school_id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...body.orders.map((o) => o.order_id));
      cursor = body.next_cursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(newestFirst);

    const unpaid: AdminOrdersResponse = await listing(`/api/v1/admin/orders?school_id=${school_id}&status=unpaid`);
    expect(unpaid.orders.map((o) => o.order_id)).toEqual([orders[4]!.order_id]);
    expect(unpaid.next_cursor).toBeNull();
    const byCard: AdminOrdersResponse = await listing(`/api/v1/admin/orders?school_id=${school_id}&card_no=${encodeURIComponent('ｆ000999')}`);
    expect(byCard.orders.map((o) => o.order_id)).toEqual([orders[4]!.order_id, orders[3]!.order_id]);
    const statuses: AdminOrdersResponse = await listing(`/api/v1/admin/orders?school_id=${school_id}&card_no=20230001`);
    expect(statuses.orders.map((o) => o.topup_status)).toEqual(['pending_claim', 'pending_claim', 'claimed']);

    const pending: AdminCreditsResponse = await listing(`/api/v1/admin/credits?state=pending&school_id=${school_id}`);
    expect(pending.credits.map((c) => c.order_id)).toEqual([orders[3]!.order_id, orders[2]!.order_id, orders[1]!.order_id]);
    expect(pending.credits[0]).toMatchObject({ state: 'pending', amount_fen: 400, card_no: 'F000999', claim_id: null });
    const firstPage: AdminCreditsResponse = await listing(`/api/v1/admin/credits?school_id=${school_id}&limit=1`);
    const secondPage: AdminCreditsResponse = await listing(`/api/v1/admin/credits?school_id=${school_id}&limit=1&cursor=${firstPage.next_cursor}`);
    expect([firstPage.credits[0]!.order_id, secondPage.credits[0]!.order_id]).toEqual([orders[3]!.order_id, orders[2]!.order_id]);
  });

  it('refuses malformed filters with invalid_query', async () => {
    const bad = [
      '/api/v1/admin/orders?limit=0',
      '/api/v1/admin/orders?limit=201',
      '/api/v1/admin/orders?limit=ten',
      '/api/v1/admin/orders?status=paidish',
      '/api/v1/admin/orders?cursor=abc',
      '/api/v1/admin/orders?card_no=%21%21',
      '/api/v1/admin/orders?school_id=BAD',
      '/api/v1/admin/orders?sort=amount',
      '/api/v1/admin/credits?state=lost',
      '/api/v1/admin/credits?cursor=Y2026000000000000000000',
      '/api/v1/admin/credits?limit=-1',
    ];
    for (const path of bad) {
      const res = await api(path, { headers: ADMIN_AUTH });
      expect(res.status, path).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_query' } });
    }
  });
});

describe('CSV records arriving in pieces', () => {
  const TEXT = '\uFEFFcard_no,name\r\n"1,2","a ""q"" b"\r\n3,"multi\nline"\n\n4,张三\r5,"x"y\n"open';

  function readAll(chunks: string[]): CsvRecord[] {
    const reader = new CsvRecordReader();
    const out: CsvRecord[] = [];
    for (const chunk of chunks) out.push(...reader.push(chunk));
    out.push(...reader.end());
    return out;
  }

  it('reads quotes, doubled quotes, CRLF/LF/CR and a quoted line break, with line numbers', () => {
    expect(readAll([TEXT])).toEqual([
      { line: 1, fields: ['card_no', 'name'], field_count: 2, error: null },
      { line: 2, fields: ['1,2', 'a "q" b'], field_count: 2, error: null },
      { line: 3, fields: ['3', 'multi\nline'], field_count: 2, error: null },
      { line: 6, fields: ['4', '张三'], field_count: 2, error: null },
      { line: 7, fields: ['5', 'x'], field_count: 2, error: 'text after a closing quote' },
      { line: 8, fields: ['open'], field_count: 1, error: 'unterminated quoted field' },
    ]);
  });

  it('keeps a CR LF inside quotes and counts it as one line', () => {
    expect(readAll(['"a\r\nb",c\r\nx,y'])).toEqual([
      { line: 1, fields: ['a\r\nb', 'c'], field_count: 2, error: null },
      { line: 3, fields: ['x', 'y'], field_count: 2, error: null },
    ]);
    const text = '"a\r\nb",c\r\nx,y\r\n';
    for (let cut = 1; cut < text.length; cut++) expect(readAll([text.slice(0, cut), text.slice(cut)])).toEqual(readAll([text]));
  });

  it('gives the same records however the text is cut into chunks', () => {
    const whole = readAll([TEXT]);
    for (let cut = 1; cut < TEXT.length; cut++) {
      expect(readAll([TEXT.slice(0, cut), TEXT.slice(cut)]), `cut at ${cut}`).toEqual(whole);
    }
    expect(readAll(Array.from(TEXT))).toEqual(whole);
  });

  it('bounds a runaway field and a runaway row', () => {
    const [long] = readAll([`1,${'x'.repeat(10_000)},student,active\n`]);
    expect(long!.error).toMatch(/field longer than/);
    expect(long!.fields[1]!.length).toBeLessThanOrEqual(256);
    const [wide] = readAll([`${'a,'.repeat(5_000)}a\n`]);
    expect(wide!.field_count).toBe(5_001);
    expect(wide!.fields.length).toBeLessThanOrEqual(6);
  });

  it('imports a body streamed in small chunks that split characters', async () => {
    const school_id = await newSchool();
    const bytes = new TextEncoder().encode('card_no,name,kind,status\n7001,欧阳娜娜,student,active\n7002,司马光,staff,active\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        // Seven bytes at a time: every three-byte character is cut somewhere.
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
        controller.close();
      },
    });
    const res = await api(`/api/v1/admin/schools/${school_id}/cards`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', ...ADMIN_AUTH },
      body: stream,
      // @ts-expect-error: workerd's RequestInit has no `duplex`, undici's needs it for a stream body.
      duplex: 'half',
    });
    expect(await res.json()).toEqual({ imported: 2, rejected: [] });
    expect(await cardsOf(school_id)).toEqual([
      { card_no: '7001', holder_name: '欧阳娜娜', kind: 'student', status: 'active' },
      { card_no: '7002', holder_name: '司马光', kind: 'staff', status: 'active' },
    ]);
  });
});
