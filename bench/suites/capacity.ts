// How many schools one D1 database carries at the semester-start peak (DESIGN section 11;
// bench/capacity.md): the model in bench/capacity-model.ts over the statements per request the
// d1-queries suite counted in this same run (measured here if that suite did not run).
import { routeCosts, schoolLoad, SEMESTER_START, statusPollsWhileOpen } from '../capacity-model.ts';
import { d1LifecycleOnce } from '../d1-lifecycle.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

const round1 = (x: number) => Math.round(x * 10) / 10;
// DESIGN section 11: 70+ schools on the platform.
const PLATFORM_SCHOOLS = 70;

export const suite: BenchSuite = {
  name: 'capacity',
  async run({ quick, log }) {
    const measured = await d1LifecycleOnce({ quick, log });
    const a = SEMESTER_START;
    const load = schoolLoad(routeCosts(measured.routes), a);
    const databases = Math.ceil(PLATFORM_SCHOOLS / load.schools_per_d1);
    const assumptions = `${a.cards_per_school} cards a school, ${a.first_day_share * 100}% topped up on day one, ${a.peak_hour_share * 100}% of those in the busiest hour, busiest minute ×${a.peak_minute_factor}; D1 ${a.d1_statements_per_s} statements/s used to ${a.utilisation_max * 100}%`;
    const figures: BenchFigure[] = [
      {
        name: 'schools one D1 carries at the semester-start peak (lag-tolerant reads on replicas)',
        value: load.schools_per_d1,
        unit: 'schools',
        baseline: { name: 'every read on the primary', value: load.schools_per_d1_without_replication },
        goal: `shard by school group beyond this: ${PLATFORM_SCHOOLS} schools need ${databases} D1 databases`,
        notes: [assumptions, `peak ${round1(load.peak_topups_per_s)} top-ups/s a school`],
      },
      {
        name: 'primary D1 statements/s per school at the peak',
        value: round1(load.primary_statements_per_s),
        unit: 'statements/s',
        baseline: { name: 'every read on the primary', value: round1(load.all_statements_per_s) },
        notes: [`of which ${round1(load.steady_statements_per_s)}/s the hub's polls (every ${a.hub_poll_interval_s} s), paid or not`],
      },
      {
        name: 'primary D1 statements per top-up in the model',
        value: round1(load.primary_statements_per_topup),
        unit: 'statements',
        baseline: { name: 'every read on the primary', value: round1(load.statements_per_topup) },
        notes: [
          `${statusPollsWhileOpen(a.order_page_open_s)} status polls (the PWA's follow schedule over ${a.order_page_open_s} s), ${a.records_per_topup} records refreshes, ${a.new_holder_share * 100}% new holders (school list, lookup, ${a.failed_lookups_per_lookup} misses each)`,
          load.per_topup.map((route) => `${route.route} ×${round1(route.requests)} = ${round1(route.statements)} (${round1(route.statements - route.replica_statements)} primary)`).join('; '),
        ],
      },
    ];
    return figures;
  },
};
