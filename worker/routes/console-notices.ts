// `GET /api/v1/console/notices?school_id=&state=`: the school's SMS outbox, dead letters
// included (`state=dead`), newest first, phone numbers masked.
import { Hono } from 'hono';
import { maskPhone } from '../../protocol/aliyun-sms.ts';
import { consoleNoticesQuery, type ConsoleNoticesResponse } from '../../protocol/console.ts';
import type { AdminNotice, NoticeKind, NoticeState } from '../../protocol/notices.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';

interface NoticeRow {
  id: number;
  order_id: string;
  school_id: string;
  kind: NoticeKind;
  phone: string;
  state: NoticeState;
  attempts: number;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  sent_at_ms: number | null;
}

export const consoleNoticeRoutes = new Hono<ConsoleEnv>().get('/notices', async (c) => {
  const query = readQuery(c, consoleNoticesQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const limit = pageLimit(query.limit);
  if (query.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  const rows = await c.env.DB.prepare(
    `SELECT id, order_id, school_id, kind, phone, state, attempts, last_error, created_at_ms, updated_at_ms, sent_at_ms
       FROM notices WHERE school_id = ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR id < ?3)
      ORDER BY id DESC LIMIT ?4`,
  )
    .bind(school_id, query.state ?? null, query.cursor === undefined ? null : Number(query.cursor), limit + 1)
    .all<NoticeRow>();
  const page = rows.results.slice(0, limit);
  const notices: AdminNotice[] = page.map(({ id, phone, ...row }) => ({ notice_id: id, phone_masked: maskPhone(phone), ...row }));
  const body: ConsoleNoticesResponse = { notices, next_cursor: rows.results.length > limit ? String(page[page.length - 1]!.id) : null };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
