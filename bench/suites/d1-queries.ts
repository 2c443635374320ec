// D1 statements per route and per top-up (issue 11; DESIGN section 11): counted by the Worker on
// `wrangler dev` while a whole top-up runs through the real parts (bench/d1-lifecycle.ts).
import { d1LifecycleOnce, type RouteCount } from '../d1-lifecycle.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

const round1 = (x: number) => Math.round(x * 10) / 10;

function perRequest(route: RouteCount): BenchFigure {
  const replica_share = route.statements === 0 ? 0 : route.replica_statements / route.statements;
  return {
    name: `D1 statements per request: ${route.route}`,
    value: round1(route.statements / route.requests),
    unit: 'statements',
    notes: [
      `${route.requests} requests, ${round1(route.round_trips / route.requests)} round trips each`,
      `${Math.round(replica_share * 100)}% through a read-replica session`,
    ],
  };
}

export const suite: BenchSuite = {
  name: 'd1-queries',
  async run({ quick, log }) {
    const measured = await d1LifecycleOnce({ quick, log });
    const total = measured.routes.reduce((sum, route) => sum + route.statements, 0);
    const replica = measured.routes.reduce((sum, route) => sum + route.replica_statements, 0);
    const idle_per_poll = measured.idle.hub_changes_requests === 0 ? 0 : measured.idle.statements / measured.idle.hub_changes_requests;
    const figures: BenchFigure[] = [
      {
        name: 'D1 statements on the primary per top-up (lookup to claim, counted)',
        value: round1((total - replica) / measured.topups),
        unit: 'statements',
        baseline: { name: 'every statement on the primary (no read replication)', value: round1(total / measured.topups) },
        notes: [
          `${measured.topups} top-ups: lookup, creation by card token, payment notification, ${round1(measured.polls_until_paid / measured.topups)} status polls each (every 100 ms until paid), the hub's pulls, the load, the claim, records`,
          `routes: ${measured.routes.map((route) => `${route.route} ×${route.requests} = ${route.statements}`).join('; ')}`,
        ],
      },
      {
        name: "D1 statements per idle hub poll (GET /api/v1/hub/changes, signature check included)",
        value: round1(idle_per_poll),
        unit: 'statements',
        notes: [`${measured.idle.hub_changes_requests} polls in ${measured.idle.seconds} s idle at a ${measured.hub_poll_interval_ms} ms interval`],
      },
      {
        name: "D1 statements per run of the five-minute cron, nothing due",
        value: measured.cron.statements,
        unit: 'statements',
        notes: [`${measured.cron.round_trips} round trips, once per five minutes for the whole database, not per school`],
      },
      ...measured.routes.map(perRequest),
    ];
    return figures;
  },
};
