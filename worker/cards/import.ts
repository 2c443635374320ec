// The card office's registry import: CSV rows `card_no,name,kind,status,asn` (DESIGN section 10).
// The parser takes the body chunk by chunk, so a 50,000-row file is read as it arrives, and
// every dimension is bounded: bytes, rows, columns, field length. Bad lines are named by their
// line number and reason; good lines are upserted in batches of D1 statements.
import { sql } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import { CARD_IMPORT_ROWS_MAX } from '../../protocol/api.ts';
import {
  CARD_KINDS,
  CARD_STATUSES,
  HOLDER_NAME_LENGTH_MAX,
  holderNameKey,
  normaliseCardNo,
  type CardKind,
  type CardStatus,
} from '../../protocol/card.ts';
import type { Db } from '../db/client.ts';
import { cards } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';

// 50,000 rows of a long name and number fit in well under this.
export const CARD_IMPORT_BODY_BYTES_MAX = 8 * 1024 * 1024;
export const CARD_IMPORT_COLUMNS = ['card_no', 'name', 'kind', 'status', 'asn'] as const;
// A row without the fifth column (a registry export from before chips carried an asn) keeps
// the asn the card already has; a card with none is never offered a load.
const CARD_IMPORT_COLUMNS_MIN = CARD_IMPORT_COLUMNS.length - 1;
const ASN_PATTERN = /^[0-9A-F]{16}$/;
// No field of a registry row is near this; longer is a broken file, not a name.
const CSV_FIELD_CHARS_MAX = 256;
// Fields kept per record: enough to see "too many columns" without storing a runaway row.
const CSV_FIELDS_KEPT_MAX = CARD_IMPORT_COLUMNS.length + 1;
// D1 binds at most 100 parameters per statement: 8 columns × 12 rows = 96.
const ROWS_PER_STATEMENT = 12;
// asns looked up per query when checking that none belongs to another card.
const ASNS_PER_QUERY = 5_000;
// Statements per D1 batch (one transaction each): big enough to be quick, small enough to
// stay far from D1's per-batch limits.
const STATEMENTS_PER_BATCH = 50;
// Echoed bad values are cut to this, so a reason stays a line, not a copy of the row.
const REASON_VALUE_CHARS_MAX = 32;

export interface CsvRecord {
  /** 1-based line where the record starts (a quoted field may span lines). */
  line: number;
  fields: string[];
  field_count: number;
  error: string | null;
}

/**
 * RFC 4180 records from text chunks. `push` returns the records completed by the chunk, `end`
 * the last one. Accepts LF, CRLF and CR line ends and a leading BOM.
 */
export class CsvRecordReader {
  #line = 1;
  #record_line = 1;
  #fields: string[] = [];
  #field_count = 0;
  #field = '';
  #error: string | null = null;
  // 'start' of a field, 'plain' unquoted field, 'quoted' inside quotes, 'quote' just after a
  // quote inside a quoted field (either the closing quote or the first of a doubled one).
  #state: 'start' | 'plain' | 'quoted' | 'quote' = 'start';
  #after_cr = false;
  #started = false;
  #record_has_content = false;

  push(chunk: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (this.#after_cr) {
        this.#after_cr = false;
        if (ch === '\n') {
          // The LF of a CR LF: the line was already counted (and a record ended, outside quotes).
          if (this.#state === 'quoted') this.#append(ch);
          continue;
        }
      }
      this.#consume(ch, out);
    }
    return out;
  }

  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    if (this.#state === 'quoted') this.#fail('unterminated quoted field');
    if (this.#record_has_content || this.#field_count > 0) this.#finishRecord(out);
    return out;
  }

  #consume(ch: string, out: CsvRecord[]): void {
    switch (this.#state) {
      case 'quoted':
        if (ch === '"') this.#state = 'quote';
        else this.#append(ch);
        if (ch === '\n' || ch === '\r') this.#line++;
        // A CR LF inside quotes is one line end, not two.
        if (ch === '\r') this.#after_cr = true;
        return;
      case 'quote':
        if (ch === '"') {
          this.#append('"');
          this.#state = 'quoted';
          return;
        }
        if (ch === ',' || ch === '\n' || ch === '\r') break;
        this.#fail('text after a closing quote');
        this.#state = 'plain';
        return;
      case 'start':
        if (ch === '"') {
          this.#state = 'quoted';
          this.#record_has_content = true;
          return;
        }
        break;
      case 'plain':
        break;
    }
    if (ch === ',') {
      this.#finishField();
      this.#record_has_content = true;
      return;
    }
    if (ch === '\n' || ch === '\r') {
      if (ch === '\r') this.#after_cr = true;
      this.#finishRecord(out);
      this.#line++;
      this.#record_line = this.#line;
      return;
    }
    if (ch === '"') this.#fail('quote inside an unquoted field');
    this.#state = 'plain';
    this.#record_has_content = true;
    this.#append(ch);
  }

  #append(ch: string): void {
    if (this.#field.length >= CSV_FIELD_CHARS_MAX) {
      this.#fail(`field longer than ${CSV_FIELD_CHARS_MAX} characters`);
      return;
    }
    this.#field += ch;
  }

  #fail(reason: string): void {
    if (this.#error === null) this.#error = reason;
  }

  #finishField(): void {
    if (this.#fields.length < CSV_FIELDS_KEPT_MAX) this.#fields.push(this.#field);
    this.#field_count++;
    this.#field = '';
    this.#state = 'start';
  }

  #finishRecord(out: CsvRecord[]): void {
    this.#finishField();
    const blank = this.#field_count === 1 && this.#fields[0] === '' && !this.#record_has_content;
    if (!blank) out.push({ line: this.#record_line, fields: this.#fields, field_count: this.#field_count, error: this.#error });
    this.#fields = [];
    this.#field_count = 0;
    this.#error = null;
    this.#record_has_content = false;
  }
}

export interface CardImportRow {
  line: number;
  card_no: string;
  holder_name: string;
  kind: CardKind;
  status: CardStatus;
  /** 16 upper-case hex, or null when the row does not say (the card keeps its asn). */
  asn: string | null;
}

export interface Rejected {
  line: number;
  reason: string;
}

function quoted(value: string): string {
  const cut = value.length > REASON_VALUE_CHARS_MAX ? `${value.slice(0, REASON_VALUE_CHARS_MAX)}…` : value;
  return JSON.stringify(cut);
}

function isHeader(record: CsvRecord): boolean {
  return (
    record.field_count >= CARD_IMPORT_COLUMNS_MIN &&
    record.field_count <= CARD_IMPORT_COLUMNS.length &&
    record.fields.every((field, i) => field.trim().toLowerCase() === CARD_IMPORT_COLUMNS[i])
  );
}

// Control characters in a name are a broken export, never part of a holder's name.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** One record to a registry row, or the reason it is refused. */
export function validateRecord(record: CsvRecord): CardImportRow | string {
  if (record.error !== null) return record.error;
  if (record.field_count > CARD_IMPORT_COLUMNS.length) {
    return `too many columns: ${record.field_count}, expected ${CARD_IMPORT_COLUMNS.join(',')}`;
  }
  if (record.field_count < CARD_IMPORT_COLUMNS_MIN) {
    return `too few columns: ${record.field_count}, expected ${CARD_IMPORT_COLUMNS.join(',')}`;
  }
  const [raw_card_no, raw_name, raw_kind, raw_status, raw_asn = ''] = record.fields as [string, string, string, string, string?];
  const card_no = normaliseCardNo(raw_card_no);
  if (card_no === null) return `bad card number ${quoted(raw_card_no)}`;
  const holder_name = raw_name.normalize('NFKC').trim().replace(/\s+/gu, ' ');
  if (holder_name.length === 0) return 'empty name';
  if (CONTROL_CHARS.test(holder_name)) return 'name contains control characters';
  if (Array.from(holder_name).length > HOLDER_NAME_LENGTH_MAX) return `name longer than ${HOLDER_NAME_LENGTH_MAX} characters`;
  const kind = raw_kind.trim().toLowerCase();
  if (!(CARD_KINDS as readonly string[]).includes(kind)) return `bad kind ${quoted(raw_kind)}, expected ${CARD_KINDS.join('/')}`;
  const status = raw_status.trim().toLowerCase();
  if (!(CARD_STATUSES as readonly string[]).includes(status)) {
    return `bad status ${quoted(raw_status)}, expected ${CARD_STATUSES.join('/')}`;
  }
  const asn_text = raw_asn.trim().toUpperCase();
  if (asn_text !== '' && !ASN_PATTERN.test(asn_text)) return `bad asn ${quoted(raw_asn)}, expected 16 hex digits`;
  const asn = asn_text === '' ? null : asn_text;
  return { line: record.line, card_no, holder_name, kind: kind as CardKind, status: status as CardStatus, asn };
}

/** Accumulates validated rows: skips the header, names duplicates, enforces the row limit. */
export class CardImportCollector {
  readonly rows: CardImportRow[] = [];
  readonly rejected: Rejected[] = [];
  #first_line_of = new Map<string, number>();
  #asn_line_of = new Map<string, number>();
  #seen_record = false;
  #data_records = 0;

  add(record: CsvRecord): void {
    const first = !this.#seen_record;
    this.#seen_record = true;
    if (first && record.error === null && isHeader(record)) return;
    this.#data_records++;
    if (this.#data_records > CARD_IMPORT_ROWS_MAX) {
      throw new ApiError(413, 'payload_too_large', `more than ${CARD_IMPORT_ROWS_MAX} rows; split the file`);
    }
    const row = validateRecord(record);
    if (typeof row === 'string') {
      this.rejected.push({ line: record.line, reason: row });
      return;
    }
    const earlier = this.#first_line_of.get(row.card_no);
    if (earlier !== undefined) {
      this.rejected.push({ line: record.line, reason: `duplicate in file: card ${row.card_no} is also on line ${earlier}` });
      return;
    }
    // One chip is one card: two numbers sharing an asn would let one spend the other's money.
    const asn_earlier = row.asn === null ? undefined : this.#asn_line_of.get(row.asn);
    if (asn_earlier !== undefined) {
      this.rejected.push({ line: record.line, reason: `duplicate in file: asn ${row.asn} is also on line ${asn_earlier}` });
      return;
    }
    this.#first_line_of.set(row.card_no, row.line);
    if (row.asn !== null) this.#asn_line_of.set(row.asn, row.line);
    this.rows.push(row);
  }

  /**
   * Moves rows whose asn another card of the school already has to the rejected lines, so
   * the upsert never meets the unique index (that would fail the whole batch).
   * Bounded: one lookup per ASNS_PER_QUERY asns, one pass over the rows.
   */
  async rejectTakenAsns(db: Db, school_id: string): Promise<void> {
    const owner_of = new Map<string, string>();
    const asns = [...new Set(this.rows.flatMap((row) => (row.asn === null ? [] : [row.asn])))];
    for (let start = 0; start < asns.length; start += ASNS_PER_QUERY) {
      const found = await db
        .select({ card_no: cards.card_no, asn: cards.asn })
        .from(cards)
        .where(sql`${cards.school_id} = ${school_id} AND ${cards.asn} IN (SELECT value FROM json_each(${JSON.stringify(asns.slice(start, start + ASNS_PER_QUERY))}))`);
      for (const row of found) if (row.asn !== null) owner_of.set(row.asn, row.card_no);
    }
    if (owner_of.size === 0) return;
    const kept: CardImportRow[] = [];
    // A chip may move to another card when its card gets another chip on an EARLIER line:
    // rows are written in line order, so the unique index never sees both at once.
    const released_by = new Map<string, string>();
    const asn_of_card = new Map([...owner_of].map(([asn, card_no]) => [card_no, asn]));
    for (const row of this.rows) {
      const owner = row.asn === null ? undefined : owner_of.get(row.asn);
      if (owner !== undefined && owner !== row.card_no && released_by.get(owner) !== row.asn) {
        this.rejected.push({ line: row.line, reason: `asn ${row.asn} belongs to card ${owner}` });
        continue;
      }
      kept.push(row);
      const held = asn_of_card.get(row.card_no);
      if (held !== undefined && row.asn !== null && row.asn !== held) released_by.set(row.card_no, held);
    }
    this.rows.length = 0;
    for (const row of kept) this.rows.push(row);
    this.rejected.sort((a, b) => a.line - b.line);
  }
}

/**
 * Reads a CSV body as it streams in, bounded by CARD_IMPORT_BODY_BYTES_MAX, into validated
 * rows and rejections. Throws ApiError for a body that is too big or not UTF-8.
 */
export async function readCardCsv(body: ReadableStream<Uint8Array> | null): Promise<CardImportCollector> {
  const reader = new CsvRecordReader();
  const collector = new CardImportCollector();
  if (body === null) return collector;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  const stream = body.getReader();
  let bytes = 0;
  const decode = (chunk?: Uint8Array): string => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw new ApiError(400, 'invalid_body', 'the CSV file is not UTF-8; save it as UTF-8 (with or without BOM)');
    }
  };
  try {
    // Bounded by the byte limit: every iteration consumes at least one byte or ends.
    for (;;) {
      const { done, value } = await stream.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > CARD_IMPORT_BODY_BYTES_MAX) {
        throw new ApiError(413, 'payload_too_large', `CSV body exceeds ${CARD_IMPORT_BODY_BYTES_MAX} bytes`);
      }
      for (const record of reader.push(decode(value))) collector.add(record);
    }
  } catch (error) {
    await stream.cancel().catch(() => {});
    throw error;
  }
  for (const record of reader.push(decode())) collector.add(record);
  for (const record of reader.end()) collector.add(record);
  return collector;
}

/**
 * Upserts rows into the school's registry. Re-importing an unchanged row changes nothing (no
 * write, no change for the hub); a changed status reaches the hub through the cards trigger.
 * Each D1 batch is one transaction; the import as a whole is not, but it is idempotent, so a
 * failed import is repaired by sending the same file again.
 */
export async function upsertCards(
  db: Db,
  school_id: string,
  rows: readonly CardImportRow[],
  now_ms: number,
  options: {
    /** A statement for each D1 batch of the import, run in it after its rows (the console's audit row). */
    with_batch?: (part: { index: number; parts: number; rows_from: number; rows_to: number }) => BatchItem<'sqlite'>;
  } = {},
): Promise<number> {
  if (rows.length > CARD_IMPORT_ROWS_MAX) throw new RangeError(`too many rows: ${rows.length}`);
  const statements = [];
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const values = rows.slice(start, start + ROWS_PER_STATEMENT).map((row) => ({
      school_id,
      card_no: row.card_no,
      holder_name: row.holder_name,
      holder_name_key: holderNameKey(row.holder_name),
      kind: row.kind,
      status: row.status,
      asn: row.asn,
      updated_at_ms: now_ms,
    }));
    statements.push(
      db
        .insert(cards)
        .values(values)
        .onConflictDoUpdate({
          target: [cards.school_id, cards.card_no],
          set: {
            holder_name: sql`excluded.holder_name`,
            holder_name_key: sql`excluded.holder_name_key`,
            kind: sql`excluded.kind`,
            // A card replaced at the card office (补卡) stays closed: its money moved to the new
            // card, and a registry export that still lists it active must not reopen it.
            status: sql`CASE WHEN EXISTS (SELECT 1 FROM card_replacements r
                WHERE r.school_id = ${cards.school_id} AND r.old_card_no = ${cards.card_no}) THEN ${cards.status} ELSE excluded.status END`,
            asn: sql`COALESCE(excluded.asn, ${cards.asn})`,
            updated_at_ms: sql`excluded.updated_at_ms`,
          },
          setWhere: sql`${cards.holder_name} IS NOT excluded.holder_name OR ${cards.kind} IS NOT excluded.kind
            OR ${cards.status} IS NOT excluded.status OR (excluded.asn IS NOT NULL AND ${cards.asn} IS NOT excluded.asn)`,
        }),
    );
  }
  const parts = Math.ceil(statements.length / STATEMENTS_PER_BATCH);
  for (let start = 0; start < statements.length; start += STATEMENTS_PER_BATCH) {
    const batch: BatchItem<'sqlite'>[] = statements.slice(start, start + STATEMENTS_PER_BATCH);
    if (options.with_batch !== undefined) {
      const rows_from = start * ROWS_PER_STATEMENT;
      batch.push(
        options.with_batch({
          index: start / STATEMENTS_PER_BATCH,
          parts,
          rows_from,
          rows_to: Math.min(rows.length, (start + STATEMENTS_PER_BATCH) * ROWS_PER_STATEMENT),
        }),
      );
    }
    try {
      await db.batch(batch as [(typeof batch)[number], ...(typeof batch)[number][]]);
    } catch (error) {
      // Another import of the same school took an asn between rejectTakenAsns and here.
      if (/UNIQUE constraint failed: cards\.school_id, cards\.asn/.test(String((error as Error)?.message))) {
        throw new ApiError(409, 'conflict', 'an asn in the file was just given to another card; import the file again');
      }
      throw error;
    }
  }
  return rows.length;
}
