// The console API (issue 10, DESIGN sections 8 and 10), mounted at /api/v1/console: the gate
// (session, CSRF, origin) first, then one module per resource. Every read and action is scoped
// to the operator's schools.
import { Hono } from 'hono';
import type { ConsoleEnv } from '../console/context.ts';
import { consoleGuard } from '../console/guard.ts';
import { consoleAgreementRoutes } from './console-agreements.ts';
import { consoleAuditRoutes } from './console-audit.ts';
import { consoleCardRoutes } from './console-cards.ts';
import { consoleCardReplaceRoutes } from './console-card-replace.ts';
import { consoleChartRoutes } from './console-charts.ts';
import { consoleGreyRoutes } from './console-grey.ts';
import { consoleHubRoutes } from './console-hubs.ts';
import { consoleNoticeRoutes } from './console-notices.ts';
import { consoleOrderRoutes } from './console-orders.ts';
import { consoleOverviewRoutes } from './console-overview.ts';
import { consolePendingRoutes } from './console-pending.ts';
import { consoleReconciliationRoutes } from './console-reconciliations.ts';
import { consoleRefundRoutes } from './console-refunds.ts';
import { consoleSessionRoutes } from './console-session.ts';

export const consoleRoutes = new Hono<ConsoleEnv>()
  .use('*', consoleGuard)
  .route('/', consoleSessionRoutes)
  .route('/', consoleOverviewRoutes)
  .route('/', consoleOrderRoutes)
  .route('/', consolePendingRoutes)
  .route('/', consoleRefundRoutes)
  .route('/', consoleGreyRoutes)
  .route('/', consoleHubRoutes)
  .route('/', consoleReconciliationRoutes)
  .route('/', consoleAgreementRoutes)
  .route('/', consoleNoticeRoutes)
  .route('/', consoleAuditRoutes)
  .route('/', consoleCardRoutes)
  .route('/', consoleCardReplaceRoutes)
  .route('/', consoleChartRoutes);
