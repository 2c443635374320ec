// Entry of the card office's console (/console). No service worker: the console is used
// online, at a desk, and its pages must never be an old copy.
import { render } from 'preact';
import { App } from './app.tsx';
import './styles.css';

const root = document.getElementById('console');
if (root === null) throw new Error('#console is missing from console/index.html');
render(<App />, root);
