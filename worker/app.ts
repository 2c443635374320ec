// The Worker's HTTP surface (DESIGN section 10), composed from one module per concern.
import { Hono } from 'hono';
import type { AppEnv } from './env.ts';
import { errorResponse, handleError } from './http/errors.ts';
import { schoolRoutes } from './routes/schools.ts';
import { requireAdmin } from './auth/admin.ts';
import { adminRoutes } from './routes/admin.ts';
import { cardRoutes } from './routes/cards.ts';
import { rechargeRoutes } from './routes/recharges.ts';
import { notifyWechatRoutes } from './routes/notify-wechat.ts';
import { notifyAlipayRoutes } from './routes/notify-alipay.ts';
import { hubRoutes } from './routes/hub.ts';
import { adminHubRoutes } from './routes/admin-hubs.ts';
import { adminNoticeRoutes } from './routes/admin-notices.ts';
import { adminAutoTopupRoutes } from './routes/admin-auto-topup.ts';
import { autoTopupRoutes } from './routes/auto-topup.ts';
import { notifyAlipayAgreementRoutes } from './routes/notify-alipay-agreement.ts';
import { adminRefundRoutes } from './routes/admin-refunds.ts';
import { adminReconciliationRoutes } from './routes/admin-reconciliations.ts';
import { adminCardRoutes } from './routes/admin-cards.ts';
import { adminOperatorRoutes } from './routes/admin-operators.ts';
import { consoleRoutes } from './routes/console.ts';
import { serveConsolePage } from './routes/console-pages.ts';
import { nameMeteredRoute } from './http/d1-meter.ts';

export function buildApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.use('*', nameMeteredRoute);
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  // First of all routes: Hono runs handlers in registration order, so this guards every admin
  // route, including those other modules mount under /api/v1/admin.
  app.use('/api/v1/admin/*', requireAdmin);
  app.route('/api/v1/schools', schoolRoutes);
  app.route('/api/v1/cards', cardRoutes);
  app.route('/api/v1/recharges', rechargeRoutes);
  app.route('/api/v1/notify/wechat', notifyWechatRoutes);
  app.route('/api/v1/notify/alipay', notifyAlipayRoutes);
  app.route('/api/v1/admin', adminRoutes);
  app.route('/api/v1/hub', hubRoutes);
  app.route('/api/v1/admin', adminHubRoutes);
  app.route('/api/v1/admin', adminNoticeRoutes);
  app.route('/api/v1/admin', adminAutoTopupRoutes);
  app.route('/api/v1/auto-topup', autoTopupRoutes);
  app.route('/api/v1/notify/alipay-agreement', notifyAlipayAgreementRoutes);
  app.route('/api/v1/admin', adminRefundRoutes);
  app.route('/api/v1/admin', adminReconciliationRoutes);
  app.route('/api/v1/admin', adminCardRoutes);
  app.route('/api/v1/admin', adminOperatorRoutes);
  app.route('/api/v1/console', consoleRoutes);
  app.use('/console', serveConsolePage);
  app.use('/console/*', serveConsolePage);
  return app;
}

export const app = buildApp();
