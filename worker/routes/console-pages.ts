// The console's pages (DESIGN section 8): `/console` and every deep link under it open
// console/index.html, the console's own single-page app. The assets' SPA fallback alone would
// answer them with the card holders' app, so wrangler.toml runs the Worker first for these paths.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { errorResponse } from '../http/errors.ts';

// Deep links are routes of the console, not files: its scripts and styles live under /assets/.
const CONSOLE_PAGE_PATH = '/console/';

// An operator's screen holds refunds and settlements: no other site may frame it, it is never
// indexed, and a new deployment is seen at the next load.
const PAGE_HEADERS: Record<string, string> = {
  'cache-control': 'no-cache',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-robots-tag': 'noindex',
};

/**
 * Middleware, not a route: a page, not an API, so it sits outside the API's route table (which
 * the malformed-input test walks). GET and HEAD get the page; anything else goes on to 404.
 */
export const serveConsolePage: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return next();
  const assets = c.env.ASSETS;
  if (assets === undefined) return errorResponse(c, 404, 'not_found', 'the console is not built into this Worker');
  const url = new URL(c.req.url);
  url.pathname = CONSOLE_PAGE_PATH;
  url.search = '';
  const page = await assets.fetch(new Request(url, { method: c.req.method }));
  if (!page.ok) return errorResponse(c, 404, 'not_found', 'the console is not built into this Worker');
  const response = new Response(page.body, page);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) response.headers.set(name, value);
  return response;
};
