// Entry of the card office's console (/console): render the app.
import { render } from 'preact';

const root = document.getElementById('console');
if (root === null) throw new Error('#console is missing from console/index.html');
render(<p>一卡通管理台</p>, root);
