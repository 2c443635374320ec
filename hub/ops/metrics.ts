// Prometheus text exposition of the hub's counters, gauges and the POS latency histogram.

// Seconds; the swipe budget is 5 ms at p99 (DESIGN section 9), so the low end is fine-grained.
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] as const;

class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_S.length).fill(0);
  count = 0;
  sum_s = 0;
  observe(value_s: number): void {
    this.count += 1;
    this.sum_s += value_s;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      if (value_s <= LATENCY_BUCKETS_S[i]!) {
        this.counts[i]! += 1;
        return;
      }
    }
  }
}

export type PosRoute = 'swipe' | 'load' | 'commit';

export class HubMetrics {
  readonly swipes = new Map<string, number>();
  readonly commits = new Map<string, number>();
  readonly loads = new Map<string, number>();
  readonly refusals = new Map<string, number>();
  readonly latency = { swipe: new Histogram(), load: new Histogram(), commit: new Histogram() };
  group_commits = 0;
  group_commit_ops = 0;
  sync_pulls = 0;
  sync_errors = 0;
  claims_sent = 0;

  count(map: Map<string, number>, label: string): void {
    map.set(label, (map.get(label) ?? 0) + 1);
  }

  render(gauges: Record<string, { help: string; value: number }>): string {
    const out: string[] = [];
    const counter = (name: string, help: string, label: string, map: Map<string, number>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [value, n] of map) out.push(`${name}{${label}="${value}"} ${n}`);
    };
    counter('hub_swipes_total', 'POS swipes answered, by outcome.', 'result', this.swipes);
    counter('hub_loads_total', 'POS loads answered, by outcome (reserved: MAC2 released).', 'result', this.loads);
    counter('hub_commits_total', 'POS commits answered, by outcome.', 'result', this.commits);
    counter('hub_pos_refusals_total', 'POS requests refused, by error code.', 'code', this.refusals);
    out.push('# HELP hub_pos_request_duration_seconds POS request latency, body read to answer.');
    out.push('# TYPE hub_pos_request_duration_seconds histogram');
    for (const [route, h] of Object.entries(this.latency)) {
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
        cumulative += h.counts[i]!;
        out.push(`hub_pos_request_duration_seconds_bucket{route="${route}",le="${LATENCY_BUCKETS_S[i]}"} ${cumulative}`);
      }
      out.push(`hub_pos_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.count}`);
      out.push(`hub_pos_request_duration_seconds_sum{route="${route}"} ${h.sum_s}`);
      out.push(`hub_pos_request_duration_seconds_count{route="${route}"} ${h.count}`);
    }
    const simple = (name: string, type: string, help: string, value: number) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    simple('hub_group_commits_total', 'counter', 'Durable transactions committed.', this.group_commits);
    simple('hub_group_commit_ops_total', 'counter', 'Operations carried by those transactions.', this.group_commit_ops);
    simple('hub_sync_pulls_total', 'counter', 'Changes pages pulled from the Worker.', this.sync_pulls);
    simple('hub_sync_errors_total', 'counter', 'Failed requests to the Worker.', this.sync_errors);
    simple('hub_claims_sent_total', 'counter', 'Claims the Worker acknowledged.', this.claims_sent);
    for (const [name, gauge] of Object.entries(gauges)) simple(name, 'gauge', gauge.help, gauge.value);
    return `${out.join('\n')}\n`;
  }
}
