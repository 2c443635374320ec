// The SMS outbox for the card office (DESIGN sections 7 and 10): notices by state, newest
// first, dead letters included (`?state=dead`). Phone numbers are masked here as in the logs.
import { Hono } from 'hono';
import { maskPhone } from '../../protocol/aliyun-sms.ts';
import { adminNoticesQuery, type AdminNotice, type AdminNoticesResponse, type NoticeKind, type NoticeState } from '../../protocol/notices.ts';
import type { AppEnv } from '../env.ts';
import { readQuery } from '../http/validate.ts';

const LIST_LIMIT_DEFAULT = 50;

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

export const adminNoticeRoutes = new Hono<AppEnv>().get('/notices', async (c) => {
  const query = readQuery(c, adminNoticesQuery);
  const limit = query.limit ?? LIST_LIMIT_DEFAULT;
  // One row more than the page says whether there is a next page.
  const rows = await c.env.DB.prepare(
    `SELECT id, order_id, school_id, kind, phone, state, attempts, last_error, created_at_ms, updated_at_ms, sent_at_ms
       FROM notices
      WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR school_id = ?2) AND (?3 IS NULL OR id < ?3)
      ORDER BY id DESC LIMIT ?4`,
  )
    .bind(query.state ?? null, query.school_id ?? null, query.cursor ?? null, limit + 1)
    .all<NoticeRow>();
  const page = rows.results.slice(0, limit);
  const notices: AdminNotice[] = page.map(({ id, phone, ...row }) => ({ notice_id: id, phone_masked: maskPhone(phone), ...row }));
  const body: AdminNoticesResponse = {
    notices,
    next_cursor: rows.results.length > limit ? String(page[page.length - 1]!.id) : null,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
