// Entry: render the app, then register the service worker and ask for persistent storage.
import { render } from 'preact';
import { App } from './app.tsx';
import { registerServiceWorker, requestPersistentStorage, type UpdateHandle } from './sw/register.ts';
import './styles.css';

const root = document.getElementById('app');
if (root === null) throw new Error('#app is missing from index.html');

function show(update: UpdateHandle | null): void {
  render(<App update={update} />, root!);
}

show(null);
registerServiceWorker((update) => show(update));
void requestPersistentStorage();
