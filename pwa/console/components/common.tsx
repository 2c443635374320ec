// Pieces every console page uses: the page frame, tables that page through the server, money,
// times, states, and error text. They render what they are given and nothing else.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { fenToYuan } from '../../../protocol/money.ts';
import type { Loaded, PagerState } from '../hooks.ts';
import { useI18n, type MessageKey } from '../i18n.ts';
import { onLinkClick, takeFocusRequest } from '../router.ts';

export function Yuan({ amount_fen }: { amount_fen: number | null | undefined }) {
  if (amount_fen === null || amount_fen === undefined) return <span class="muted">—</span>;
  return <span class="money">¥{fenToYuan(amount_fen)}</span>;
}

export function Time({ at_ms, seconds }: { at_ms: number | null | undefined; seconds?: boolean }) {
  const { time, time_s } = useI18n();
  if (at_ms === null || at_ms === undefined) return <span class="muted">—</span>;
  return <time dateTime={new Date(at_ms).toISOString()}>{seconds ? time_s(at_ms) : time(at_ms)}</time>;
}

export function Age({ age_ms }: { age_ms: number | null | undefined }) {
  const { duration } = useI18n();
  if (age_ms === null || age_ms === undefined) return <span class="muted">—</span>;
  return <span>{duration(age_ms)}</span>;
}

/** A state as a coloured word; `tone` picks the colour, the text carries the meaning. */
export function Badge({ tone, children, testid }: { tone: 'ok' | 'warn' | 'bad' | 'neutral' | 'info'; children: ComponentChildren; testid?: string }) {
  return (
    <span class={`badge badge-${tone}`} data-testid={testid}>
      {children}
    </span>
  );
}

export function Page(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocusRequest()) heading.current?.focus({ preventScroll: true });
  }, []);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1} ref={heading}>
          {props.title}
        </h1>
        {props.actions ? <div class="page-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </>
  );
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; 'aria-label'?: string; 'aria-current'?: 'page' }) {
  return (
    <a href={props.href} class={props.class} onClick={onLinkClick} aria-label={props['aria-label']} aria-current={props['aria-current']}>
      {props.children}
    </a>
  );
}

export function ErrorText({ code }: { code: string | null }) {
  const { t, error } = useI18n();
  if (code === null) return null;
  return (
    <p class="note note-error" role="alert" data-code={code}>
      {t('error_prefix')}
      {error(code)}
    </p>
  );
}

export function Loading({ loading }: { loading: boolean }) {
  const { t } = useI18n();
  return loading ? (
    <p class="muted" role="status">
      {t('loading')}
    </p>
  ) : null;
}

export interface Column<T> {
  label: MessageKey;
  render: (row: T) => ComponentChildren;
  /** Numbers align right, so amounts line up. */
  numeric?: boolean;
  /** Short words (an operator id, an action) read better on one line than broken. */
  nowrap?: boolean;
}

/**
 * A table that is a table at desk widths and a list of labelled rows on a phone (CSS reads
 * each cell's data-label), so nothing scrolls sideways at 360 px.
 */
export function Table<T>(props: { caption: string; columns: Column<T>[]; rows: T[]; rowKey: (row: T) => string; empty?: MessageKey; testid?: string }) {
  const { t } = useI18n();
  if (props.rows.length === 0) {
    return (
      <p class="empty" data-testid={props.testid}>
        {t(props.empty ?? 'table_empty')}
      </p>
    );
  }
  return (
    <table class="table" data-testid={props.testid}>
      <caption class="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col" class={column.numeric ? 'num' : undefined}>
              {t(column.label)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={props.rowKey(row)}>
            {props.columns.map((column) => (
              <td data-label={t(column.label)} class={[column.numeric ? 'num' : '', column.nowrap ? 'nowrap' : ''].join(' ').trim() || undefined}>
                {column.render(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Previous / next through the server's pages; the page number says where one is. */
export function Pager({ pages }: { pages: PagerState }) {
  const { t } = useI18n();
  if (!pages.has_previous && !pages.has_next) return null;
  return (
    <nav class="pager" aria-label={t('pager_label')}>
      <button type="button" class="button button-secondary" disabled={!pages.has_previous || pages.loading} onClick={pages.previous}>
        {t('pager_previous')}
      </button>
      <span aria-live="polite">{t('pager_page', { n: pages.page_no })}</span>
      <button type="button" class="button button-secondary" disabled={!pages.has_next} onClick={pages.next}>
        {t('pager_next')}
      </button>
    </nav>
  );
}

/**
 * A listing paged through the server: its error, "loading" for the first page only (a reload
 * keeps the rows on screen until the new ones arrive), the page as `children` draws it, and the pager.
 */
export function Paged<P>({ pages, children }: { pages: Loaded<P> & PagerState; children: (page: P) => ComponentChildren }) {
  return (
    <>
      <ErrorText code={pages.error} />
      <Loading loading={pages.loading && pages.value === null} />
      {pages.value === null ? null : children(pages.value)}
      <Pager pages={pages} />
    </>
  );
}

/** A row of filters over a listing, its refresh button last. */
export function Filters({ children, onRefresh }: { children: ComponentChildren; onRefresh: () => void }) {
  return (
    <div class="filters">
      {children}
      <div class="filters-actions">
        <RefreshButton onClick={onRefresh} />
      </div>
    </div>
  );
}

/** Asks the server again: what a page shows changes while it is open. */
export function RefreshButton({ onClick }: { onClick: () => void }) {
  const { t } = useI18n();
  return (
    <button type="button" class="button button-secondary" onClick={onClick}>
      {t('refresh')}
    </button>
  );
}

/** A labelled field: label above, control, optional hint tied to it. */
export function Field(props: { id: string; label: string; hint?: string; children: JSX.Element }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint ? (
        <p class="field-hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      ) : null}
    </div>
  );
}

/** Facts as a definition list: label, value. */
export function Facts({ items }: { items: [MessageKey, ComponentChildren][] }) {
  const { t } = useI18n();
  return (
    <dl class="facts">
      {items.map(([label, value]) => (
        <div class="fact" key={label}>
          <dt>{t(label)}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
