// The SMS outbox as the card office reads it (admin API and console alike): newest first, dead
// letters included, phone numbers masked as in the logs. One query, so both lists agree.
import { maskPhone } from '../../protocol/aliyun-sms.ts';
import { ADMIN_LIST_LIMIT_MAX } from '../../protocol/api.ts';
import type { AdminNotice, NoticeKind, NoticeState } from '../../protocol/notices.ts';

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

// The routes' query schemas allow no more (the console's allows fewer): a larger page is our bug.
const NOTICES_PAGE_MAX = ADMIN_LIST_LIMIT_MAX;

/** A page of notices older than `before_id` (all schools when `school_id` is null), and the next cursor. */
export async function listNotices(
  d1: D1Database,
  filter: { school_id: string | null; state: NoticeState | null; before_id: number | null; limit: number },
): Promise<{ notices: AdminNotice[]; next_cursor: string | null }> {
  if (!(Number.isSafeInteger(filter.limit) && filter.limit >= 1 && filter.limit <= NOTICES_PAGE_MAX)) throw new RangeError(`limit ${filter.limit}`);
  // One row more than the page says whether there is a next page.
  const rows = await d1
    .prepare(
      `SELECT id, order_id, school_id, kind, phone, state, attempts, last_error, created_at_ms, updated_at_ms, sent_at_ms
         FROM notices
        WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR school_id = ?2) AND (?3 IS NULL OR id < ?3)
        ORDER BY id DESC LIMIT ?4`,
    )
    .bind(filter.state, filter.school_id, filter.before_id, filter.limit + 1)
    .all<NoticeRow>();
  const page = rows.results.slice(0, filter.limit);
  const notices: AdminNotice[] = page.map(({ id, phone, ...row }) => ({ notice_id: id, phone_masked: maskPhone(phone), ...row }));
  return { notices, next_cursor: rows.results.length > filter.limit ? String(page[page.length - 1]!.id) : null };
}
