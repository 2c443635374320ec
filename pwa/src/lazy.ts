// Screens other than home load on first use, keeping the app shell inside its budget. The
// service worker precaches their chunks too, so they still open offline.
import { h, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazyScreen<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let loading: Promise<void> | null = null;
  return function LazyScreen(props: P) {
    const [, setReady] = useState(loaded !== null);
    useEffect(() => {
      if (loaded !== null) return;
      let live = true;
      loading ??= load().then((component) => {
        loaded = component;
      });
      loading.then(
        () => live && setReady(true),
        () => {
          // A failed chunk load (offline before it was cached) may succeed on the next visit.
          loading = null;
        },
      );
      return () => {
        live = false;
      };
    }, []);
    return loaded === null ? null : h(loaded, props);
  };
}
