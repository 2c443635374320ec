// Registers the Workbox service worker through workbox-window. A new version waits until the
// user accepts the update prompt, so a top-up in progress is never reloaded under them.
import { Workbox } from 'workbox-window';

export interface UpdateHandle {
  /** Activates the waiting version and reloads once it controls the page. */
  apply: () => void;
}

// Deployed versions are noticed when the app is reopened and, while it stays open, hourly.
const UPDATE_CHECK_INTERVAL_MS = 60 * 60 * 1000;

export function registerServiceWorker(onUpdate: (handle: UpdateHandle) => void): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  const wb = new Workbox('/sw.js', { scope: '/' });
  wb.addEventListener('waiting', () => {
    onUpdate({
      apply: () => {
        wb.addEventListener('controlling', () => location.reload());
        wb.messageSkipWaiting();
      },
    });
  });
  wb.register()
    .then(() => setInterval(() => void wb.update().catch(() => undefined), UPDATE_CHECK_INTERVAL_MS))
    .catch((err: unknown) => console.warn('service worker registration failed', err));
}

/** Asks the browser not to evict saved cards and records under storage pressure. */
export async function requestPersistentStorage(): Promise<boolean> {
  if (!navigator.storage?.persist) return false;
  try {
    return (await navigator.storage.persisted()) || (await navigator.storage.persist());
  } catch {
    return false;
  }
}
