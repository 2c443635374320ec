// The Worker's HTTP surface (DESIGN section 10), composed from one module per concern.
import { Hono } from 'hono';
import type { AppEnv } from './env.ts';
import { errorResponse, handleError } from './http/errors.ts';
import { schoolRoutes } from './routes/schools.ts';

export function buildApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.route('/api/v1/schools', schoolRoutes);
  return app;
}

export const app = buildApp();
