// The school's card registry in the console: `POST /cards/import?school_id=` (text/csv, the
// same importer as the admin API), `GET /cards?school_id=&q=` (by card number prefix or holder
// name), and `POST /cards/{card_no}/status` (active / lost / frozen). A status change reaches the
// hub through the changes feed (the cards trigger writes the change in the same transaction)
// and a push right after. Each write carries its audit row in the same D1 batch.
import { Hono } from 'hono';
import type { CardImportResponse } from '../../protocol/api.ts';
import { normaliseCardNo } from '../../protocol/card.ts';
import { consoleCardsQuery, consoleCardStatusRequest, schoolQuery, type ConsoleCardsResponse } from '../../protocol/console.ts';
import { CARD_IMPORT_BODY_BYTES_MAX, readCardCsv, upsertCards } from '../cards/import.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, pokeHubAfterResponse, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { CARD_VIEW_SQL, pageLimit, type CardRow } from '../console/views.ts';
import { openDb } from '../db/client.ts';
import { consoleAudit } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';

function cardNotFound(): ApiError {
  return new ApiError(404, 'card_not_found', 'no such card');
}

async function readCard(d1: D1Database, school_id: string, card_no: string): Promise<CardRow | null> {
  return d1.prepare(`${CARD_VIEW_SQL} WHERE c.school_id = ?1 AND c.card_no = ?2`).bind(school_id, card_no).first<CardRow>();
}

export const consoleCardRoutes = new Hono<ConsoleEnv>()
  .post('/cards/import', async (c) => {
    const query = readQuery(c, schoolQuery);
    const operator = c.get('operator');
    const school_id = scopedSchool(operator, query.school_id);
    const type = c.req.header('content-type') ?? '';
    if (!/^text\/csv\s*(;|$)/i.test(type)) throw new ApiError(415, 'unsupported_media_type', 'send the registry as text/csv');
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) throw new ApiError(415, 'unsupported_media_type', 'send the CSV as UTF-8 (charset=utf-8)');
    if (Number(c.req.header('content-length') ?? '0') > CARD_IMPORT_BODY_BYTES_MAX) {
      throw new ApiError(413, 'payload_too_large', `CSV body exceeds ${CARD_IMPORT_BODY_BYTES_MAX} bytes`);
    }
    const db = openDb(c.env.DB);
    const parsed = await readCardCsv(c.req.raw.body);
    await parsed.rejectTakenAsns(db, school_id);
    const now_ms = Date.now();
    const address = consoleAddress(c);
    const imported = await upsertCards(db, school_id, parsed.rows, now_ms, {
      // Each batch of the import carries its own entry: a file cut short by a failure shows
      // exactly the parts that went in.
      with_batch: (part) =>
        db.insert(consoleAudit).values({
          operator_id: operator.operator_id,
          school_id,
          action: 'cards_import',
          target: `part ${part.index + 1}/${part.parts}`,
          before_json: null,
          after_json: JSON.stringify({ rows_from: part.rows_from, rows_to: part.rows_to, rows: parsed.rows.length, rejected: parsed.rejected.length }),
          at_ms: now_ms,
          address,
        }),
    });
    if (imported > 0) pokeHubAfterResponse(c, school_id);
    const body: CardImportResponse = { imported, rejected: parsed.rejected };
    return c.json(body);
  })
  .get('/cards', async (c) => {
    const query = readQuery(c, consoleCardsQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const limit = pageLimit(query.limit);
    const q = query.q ?? '';
    const card_prefix = q === '' ? null : normaliseCardNo(q);
    const name = q === '' ? null : q.normalize('NFKC').replace(/\s+/g, '');
    if (query.cursor !== undefined && query.cursor.length > 64) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
    // A number finds cards whose number begins with it; anything typed also finds holders whose
    // name begins with it. LIKE's wildcards in the input are taken literally.
    const escaped = name === null ? null : `${name.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const rows = await c.env.DB.prepare(
      `${CARD_VIEW_SQL} WHERE c.school_id = ?1
          AND (?3 IS NULL OR (?2 IS NOT NULL AND c.card_no >= ?2 AND c.card_no < ?2 || char(1114111)) OR c.holder_name_key LIKE ?3 ESCAPE '\\')
          AND (?4 IS NULL OR c.card_no > ?4)
        ORDER BY c.card_no LIMIT ?5`,
    )
      .bind(school_id, card_prefix, escaped, query.cursor ?? null, limit + 1)
      .all<CardRow>();
    const page = rows.results.slice(0, limit);
    const body: ConsoleCardsResponse = { cards: page, next_cursor: rows.results.length > limit ? page[page.length - 1]!.card_no : null };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/cards/:card_no/status', async (c) => {
    const card_no = normaliseCardNo(c.req.param('card_no'));
    const input = await readJson(c, consoleCardStatusRequest);
    const operator = c.get('operator');
    const school_id = scopedSchool(operator, input.school_id);
    if (card_no === null) throw cardNotFound();
    const d1 = c.env.DB;
    const before = await readCard(d1, school_id, card_no);
    if (before === null) throw cardNotFound();
    if (before.status === 'closed') throw new ApiError(409, 'card_not_active', 'a closed card stays closed; issue a new card');
    if (before.status === input.status) return c.json(before);
    const now_ms = Date.now();
    const [updated] = await d1.batch([
      d1
        .prepare(`UPDATE cards SET status = ?3, updated_at_ms = ?4 WHERE school_id = ?1 AND card_no = ?2 AND status = ?5`)
        .bind(school_id, card_no, input.status, now_ms, before.status),
      auditStatement(
        d1,
        operator,
        { school_id, action: 'card_status', target: card_no, before: { status: before.status }, after: { status: input.status }, at_ms: now_ms, address: consoleAddress(c) },
        { guard: 'EXISTS (SELECT 1 FROM cards WHERE school_id = ?2 AND card_no = ?9 AND status = ?10 AND updated_at_ms = ?6)', params: [card_no, input.status] },
      ),
    ]);
    if ((updated?.meta.changes ?? 0) === 0) throw new ApiError(409, 'conflict', 'the card changed meanwhile; look at it again');
    // Lost cards must be refused at the POS at once, not at the next poll.
    pokeHubAfterResponse(c, school_id);
    return c.json((await readCard(d1, school_id, card_no))!);
  });
