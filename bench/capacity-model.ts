// The capacity model of one D1 database (DESIGN section 11; bench/capacity.md explains every
// number): what a school costs the primary at the semester-start peak, from the statements per
// request `npm run bench` counted, and so how many schools one database carries.
import { FOLLOW_ATTEMPTS_MAX, nextFollowDelayMs } from '../pwa/src/data/actions.ts';
import type { RouteCount } from './d1-lifecycle.ts';

export interface PeakAssumptions {
  /** D1 is single-threaded: about this many simple statements a second (DESIGN section 11). */
  d1_statements_per_s: number;
  /** Share of that the plan may use; the rest absorbs bursts, retries, crons and admin work. */
  utilisation_max: number;
  /** Cards of a typical school on the platform. */
  cards_per_school: number;
  /** Share of a school's cards topped up on the first day of a semester. */
  first_day_share: number;
  /** Share of the first day's top-ups in its busiest hour. */
  peak_hour_share: number;
  /** Busiest minute over the busiest hour's average. */
  peak_minute_factor: number;
  /** Top-ups by a holder without a saved card, who looks the card up first (and picks the school). */
  new_holder_share: number;
  /** Lookups that miss (typos, wrong names) per lookup that finds the card. */
  failed_lookups_per_lookup: number;
  /** How long a payer keeps the order page open after the cashier, polling. */
  order_page_open_s: number;
  /** Records refreshes per top-up (the app on opening, after paid, after claimed). */
  records_per_topup: number;
  /** The hub's poll interval with a live push channel (hub/sync/client.ts default). */
  hub_poll_interval_s: number;
  hubs_per_school: number;
}

export const SEMESTER_START: PeakAssumptions = {
  d1_statements_per_s: 1_000,
  utilisation_max: 0.7,
  cards_per_school: 30_000,
  first_day_share: 0.4,
  peak_hour_share: 0.15,
  peak_minute_factor: 2,
  new_holder_share: 0.5,
  failed_lookups_per_lookup: 0.3,
  order_page_open_s: 60,
  records_per_topup: 2,
  hub_poll_interval_s: 5,
  hubs_per_school: 1,
};

/** The PWA's own follow schedule (pwa/src/data/actions.ts): polls of one order while its page is open. */
export function statusPollsWhileOpen(open_s: number): number {
  let at_ms = 0;
  let delay_ms = 0;
  let polls = 0;
  // The first poll sees the order paid: the cashier returns the payer after the payment.
  for (let attempt = 0; attempt < FOLLOW_ATTEMPTS_MAX; attempt++) {
    at_ms += delay_ms;
    if (at_ms > open_s * 1_000) break;
    polls += 1;
    delay_ms = nextFollowDelayMs(delay_ms, 'pending_claim');
  }
  return polls;
}

export interface RouteCost {
  statements: number;
  replica_statements: number;
}

export interface SchoolLoad {
  peak_topups_per_s: number;
  /** What one top-up sends, per route: requests and statements (all, and those a replica may serve). */
  per_topup: { route: string; requests: number; statements: number; replica_statements: number }[];
  statements_per_topup: number;
  primary_statements_per_topup: number;
  /** Hub polls and what else runs whether or not anyone pays. */
  steady_statements_per_s: number;
  primary_statements_per_s: number;
  all_statements_per_s: number;
  schools_per_d1: number;
  schools_per_d1_without_replication: number;
}

const ROUTES = {
  schools: 'GET /api/v1/schools',
  lookup: 'POST /api/v1/cards/lookup',
  // A typo or a wrong name: asked of the replica, then of the primary before "not found".
  missed_lookup: 'POST /api/v1/cards/lookup 404',
  create: 'POST /api/v1/recharges',
  notify: 'POST /api/v1/notify/alipay',
  poll: 'GET /api/v1/recharges/:order_id',
  records: 'GET /api/v1/recharges',
  changes: 'GET /api/v1/hub/changes',
  claims: 'POST /api/v1/hub/claims',
  reports: 'POST /api/v1/hub/card-reports',
} as const;

/** Per-request costs from the counted routes (`METHOD /route`, with ` STATUS` for refusals). */
export function routeCosts(routes: readonly RouteCount[]): Map<string, RouteCost> {
  const costs = new Map<string, RouteCost>();
  for (const route of routes) {
    costs.set(route.route, { statements: route.statements / route.requests, replica_statements: route.replica_statements / route.requests });
  }
  return costs;
}

export function schoolLoad(costs: Map<string, RouteCost>, a: PeakAssumptions): SchoolLoad {
  const cost = (key: keyof typeof ROUTES): RouteCost => {
    const found = costs.get(ROUTES[key]);
    if (found === undefined) throw new Error(`no count for ${ROUTES[key]}`);
    return found;
  };
  const mixes: { key: keyof typeof ROUTES; requests: number; cost: RouteCost }[] = [
    { key: 'schools', requests: a.new_holder_share, cost: cost('schools') },
    { key: 'lookup', requests: a.new_holder_share, cost: cost('lookup') },
    { key: 'missed_lookup', requests: a.new_holder_share * a.failed_lookups_per_lookup, cost: cost('missed_lookup') },
    { key: 'create', requests: 1, cost: cost('create') },
    { key: 'notify', requests: 1, cost: cost('notify') },
    { key: 'poll', requests: statusPollsWhileOpen(a.order_page_open_s), cost: cost('poll') },
    { key: 'records', requests: a.records_per_topup, cost: cost('records') },
    // At the peak each payment's push brings its own pull and each load its own claim and card
    // report: no batching is assumed, though the hub batches whatever arrives together.
    { key: 'changes', requests: 1, cost: cost('changes') },
    { key: 'claims', requests: 1, cost: cost('claims') },
    { key: 'reports', requests: 1, cost: cost('reports') },
  ];
  const per_topup: SchoolLoad['per_topup'] = mixes.map((mix) => ({
    route: ROUTES[mix.key],
    requests: mix.requests,
    statements: mix.requests * mix.cost.statements,
    replica_statements: mix.requests * mix.cost.replica_statements,
  }));
  // The payment's poke reaches the school's Durable Object, which reads the newest seq on its
  // own binding (worker/hub/school-hub.ts): one statement the request meter does not see.
  per_topup.push({ route: 'SchoolHub poke (Durable Object)', requests: 1, statements: 1, replica_statements: 0 });
  const statements_per_topup = per_topup.reduce((sum, route) => sum + route.statements, 0);
  const replica_per_topup = per_topup.reduce((sum, route) => sum + route.replica_statements, 0);
  const primary_statements_per_topup = statements_per_topup - replica_per_topup;
  const peak_topups_per_s = (a.cards_per_school * a.first_day_share * a.peak_hour_share * a.peak_minute_factor) / 3_600;
  const steady_statements_per_s = (a.hubs_per_school * cost('changes').statements) / a.hub_poll_interval_s;
  const primary_statements_per_s = peak_topups_per_s * primary_statements_per_topup + steady_statements_per_s;
  const all_statements_per_s = peak_topups_per_s * statements_per_topup + steady_statements_per_s;
  const budget = a.d1_statements_per_s * a.utilisation_max;
  return {
    peak_topups_per_s,
    per_topup,
    statements_per_topup,
    primary_statements_per_topup,
    steady_statements_per_s,
    primary_statements_per_s,
    all_statements_per_s,
    schools_per_d1: Math.floor(budget / primary_statements_per_s),
    schools_per_d1_without_replication: Math.floor(budget / all_statements_per_s),
  };
}
