// Loading state for pages: one answer (useLoad) or a table paged by the server's cursor
// (useCursorPages). The loaders come from data/api.ts through the page's props; these hooks
// only hold what came back, so a page never loads a whole table and never fetches itself.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './data/api.ts';

export function failureCode(err: unknown): string {
  return err instanceof ApiFailure ? err.code : 'unexpected';
}

export interface Loaded<T> {
  value: T | null;
  loading: boolean;
  error: string | null;
  reload: () => void;
}

/** Loads again whenever `deps` change; an answer to an older request is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [value, setValue] = useState<T | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  const shown_deps = useRef<string | null>(null);
  useEffect(() => {
    const mine = ++latest.current;
    // Other deps mean other data (another order, another search): what was shown goes. A
    // reload of the same keeps it on screen until the fresh answer replaces it.
    const deps_key = JSON.stringify(deps);
    if (shown_deps.current !== deps_key) setValue(null);
    shown_deps.current = deps_key;
    setLoading(true);
    setError(null);
    load().then(
      (next) => {
        if (mine !== latest.current) return;
        setValue(() => next);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== latest.current) return;
        setError(failureCode(err));
        setLoading(false);
      },
    );
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { value, loading, error, reload };
}

export interface CursorPage<T> {
  rows: T[];
  next_cursor: string | null;
}

export interface PagerState {
  loading: boolean;
  /** 1-based number of the page on screen. */
  page_no: number;
  has_previous: boolean;
  has_next: boolean;
  next: () => void;
  previous: () => void;
}

export interface CursorPages<T, P extends CursorPage<T> = CursorPage<T>> extends Loaded<P>, PagerState {}

// Pages back an operator can step; further back is a new search.
const CURSOR_HISTORY_MAX = 1_000;

/**
 * Pages through a server listing: the cursors of the pages seen are kept, so "previous" asks
 * for that page again rather than holding every row in memory. New `deps` start at page one.
 */
export function useCursorPages<T, P extends CursorPage<T> = CursorPage<T>>(load: (cursor: string | null) => Promise<P>, deps: unknown[]): CursorPages<T, P> {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), deps);
  const cursor = cursors[cursors.length - 1] ?? null;
  const loaded = useLoad(() => load(cursor), [...deps, cursor, cursors.length]);
  const next_cursor = loaded.value?.next_cursor ?? null;
  return {
    ...loaded,
    page_no: cursors.length,
    has_previous: cursors.length > 1,
    has_next: next_cursor !== null && !loaded.loading,
    next: () => {
      if (next_cursor !== null && cursors.length < CURSOR_HISTORY_MAX) setCursors([...cursors, next_cursor]);
    },
    previous: () => {
      if (cursors.length > 1) setCursors(cursors.slice(0, -1));
    },
  };
}
