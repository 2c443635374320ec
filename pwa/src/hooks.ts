// Hooks that connect screens to the Dexie store and to the browser's connectivity.
import { liveQuery } from 'dexie';
import { useEffect, useState } from 'preact/hooks';

/** Re-renders whenever the IndexedDB rows the query read change (Dexie liveQuery). */
export function useLive<T>(query: () => Promise<T>, deps: unknown[]): T | undefined {
  const [value, setValue] = useState<T | undefined>(undefined);
  useEffect(() => {
    const subscription = liveQuery(query).subscribe({
      next: (next) => setValue(() => next),
      error: (err) => console.error('live query failed', err),
    });
    return () => subscription.unsubscribe();
  }, deps);
  return value;
}

export function useOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine !== false);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine !== false);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);
  return online;
}
