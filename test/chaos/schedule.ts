// The chaos run's fault schedule, drawn from its seed before anything starts: the same seed
// gives the same faults at the same offsets, of the same lengths, in the same order, so a
// failing run is replayed by its seed alone. What a terminal dies of at each tap is drawn from
// a second stream of the same seed (see workload.ts): taps interleave with real time, faults
// must not shift when they do.
import { randomFromSeed, type SeededRandom } from '../helpers/random.ts';
import type { DeathPoint } from '../../sim/pos/terminal.ts';

export const FAULT_KINDS = [
  // The provider's notifications: one lost, sent twice, late, or held and then sent in reverse.
  'notify_drop',
  'notify_duplicate',
  'notify_delay',
  'notify_reorder',
  // The provider's API and cashier answer 503 (queries, refunds and new payments fail).
  'gateway_down',
  // The Worker cannot be reached by the hub, the provider's notifications or the payers.
  'worker_down',
  // The hub's process is SIGKILLed and started again on the same store.
  'hub_kill',
  // An administrator refunds a top-up of a card while terminals are tapping that card.
  'refund_race',
  // The card office hands the campus over to a new standby: the active hub retires under swipes
  // (stops offering, drains, confirms), and the standby is made active (DESIGN section 6).
  'handover',
  // The hub's store restored from an earlier copy: an online backup at the fault's start, loads
  // go on, now and then the campus link is cut shortly before the end (so a claim is really lost
  // with the outbox), then SIGKILL, the copy put in place, and a start (DESIGN section 6, "A hub
  // that lost state"). The card office settles the cards it freezes.
  'hub_restore',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** Offset from the start of the fault phase. */
  at_ms: number;
  kind: FaultKind;
  /** How long the fault lasts (0 for the instantaneous ones). */
  duration_ms: number;
  /** hub_restore: the campus link is cut this long before the kill (0: not cut). */
  link_cut_ms?: number;
}

// Faults of one kind overlapping would only stack the same outage; a gap keeps them readable.
const FAULT_GAP_MS_MIN = 1_000;
const FAULT_DURATION_MS_MIN = 1_500;
const FAULT_DURATION_MS_MAX = 8_000;
// Enough for a long run of an hour at about one fault every 10 seconds.
export const FAULTS_MAX = 400;
// Long enough for a tap or two to commit a load whose claim then waits in the outbox.
const LINK_CUT_MS_MIN = 500;
const INSTANT_FAULTS: readonly FaultKind[] = ['notify_drop', 'notify_duplicate', 'refund_race', 'handover'];

/**
 * Every kind at least once (a short CI run must still meet each), then more drawn at random,
 * spread over the first 85% of the run: the rest is calm so the last faults' effects arrive
 * before the drain.
 */
export function drawSchedule(seed: number, run_ms: number): Fault[] {
  if (!(Number.isSafeInteger(run_ms) && run_ms >= 10_000)) throw new RangeError(`run_ms ${run_ms}: at least 10 s`);
  const random = randomFromSeed(seed);
  const span_ms = Math.floor(run_ms * 0.85);
  const extra = Math.min(FAULTS_MAX - FAULT_KINDS.length, Math.floor(span_ms / 10_000));
  const kinds: FaultKind[] = [...FAULT_KINDS];
  for (let i = 0; i < extra; i++) kinds.push(random.pick(FAULT_KINDS));
  shuffle(kinds, random);
  const slot_ms = Math.max(FAULT_GAP_MS_MIN, Math.floor(span_ms / kinds.length));
  let restores = 0;
  const faults = kinds.map((kind, index): Fault => {
    const jitter_ms = random.int(0, Math.max(0, slot_ms - FAULT_GAP_MS_MIN));
    const instant = INSTANT_FAULTS.includes(kind);
    const duration_ms = instant ? 0 : random.int(FAULT_DURATION_MS_MIN, Math.min(FAULT_DURATION_MS_MAX, Math.max(FAULT_DURATION_MS_MIN, slot_ms)));
    const fault: Fault = { at_ms: index * slot_ms + jitter_ms, kind, duration_ms };
    if (kind === 'hub_restore') {
      // The first restore of a run always loses a claim with its outbox, so even a short run
      // meets the card office's settlement; later ones do now and then.
      const cut = restores === 0 || random.next() < 0.5;
      fault.link_cut_ms = cut ? random.int(LINK_CUT_MS_MIN, Math.floor(duration_ms / 2)) : 0;
      restores += 1;
    }
    return fault;
  });
  if (faults.length > FAULTS_MAX) throw new Error(`schedule of ${faults.length} faults is over ${FAULTS_MAX}`);
  for (const kind of FAULT_KINDS) if (!faults.some((fault) => fault.kind === kind)) throw new Error(`schedule lacks ${kind}`);
  return faults;
}

/** What a tap dies of: mostly nothing; every death point of a load, and a card pulled mid-write. */
export function drawDeath(random: SeededRandom): DeathPoint {
  const roll = random.next();
  if (roll < 0.7) return 'none';
  return random.pick(['before_init', 'after_init', 'after_mac2', 'credit_torn_unwritten', 'credit_torn_written', 'after_credit'] as const);
}

function shuffle<T>(items: T[], random: SeededRandom): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

export function describeFault(fault: Fault): string {
  const at = `+${(fault.at_ms / 1000).toFixed(1)}s`;
  const cut = fault.link_cut_ms ? `, link cut ${(fault.link_cut_ms / 1000).toFixed(1)}s before the kill` : '';
  return fault.duration_ms === 0 ? `${at} ${fault.kind}` : `${at} ${fault.kind} for ${(fault.duration_ms / 1000).toFixed(1)}s${cut}`;
}
