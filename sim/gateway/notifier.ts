// Delivers the gateway's notifications to merchants' notify URLs on the provider's retry
// schedule, with injectable faults (drop, duplicate, delay, hold-and-reorder) so tests can
// show that the Worker neither loses nor doubles money whatever the network does.
//
// Acknowledgement: Alipay counts a delivery as received only when the body is exactly
// `success`; WeChat Pay on any 2xx status.
import type { OutgoingNotification } from './types.ts';

export type FaultAction = 'drop' | 'duplicate' | 'delay' | 'hold';

export interface FaultRule {
  id: number;
  /** null: every trade. */
  out_trade_no: string | null;
  action: FaultAction;
  /** How many of the next matching notifications this rule still applies to. */
  remaining: number;
  /** duplicate: extra copies sent of each matching notification. */
  copies: number;
  /** delay: how long the first attempt waits. */
  delay_ms: number;
}

export interface DeliveryAttempt {
  at_ms: number;
  /** null when the request itself failed (refused, timed out). */
  status: number | null;
  /** The start of the merchant's answer, or the network error. */
  response: string;
  acknowledged: boolean;
}

export type DeliveryState = 'scheduled' | 'held' | 'delivered' | 'failed' | 'dropped';

export interface Delivery {
  id: number;
  notification: OutgoingNotification;
  state: DeliveryState;
  /** Fault rules that touched this delivery, for the test reading the log. */
  faults: FaultAction[];
  created_at_ms: number;
  first_attempt_at_ms: number | null;
  attempts: DeliveryAttempt[];
}

export const DELIVERIES_MAX = 2_000;
export const FAULT_RULES_MAX = 100;
export const DUPLICATE_COPIES_MAX = 10;
export const DELAY_MS_MAX = 10 * 60_000;
export const SCHEDULE_LENGTH_MAX = 16;
// Alipay's own schedule spans about 25 hours; nothing longer is accepted.
export const SCHEDULE_OFFSET_MS_MAX = 48 * 3_600_000;
const ATTEMPT_TIMEOUT_MS = 10_000;
const RESPONSE_KEPT_CHARS_MAX = 200;

// `success` is 7 bytes; a merchant page that answers with a whole HTML document is read only
// this far, which is enough to see that it is not `success`.
const RESPONSE_READ_BYTES_MAX = 4_096;

async function readLimited(response: Response, bytes_max: number): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (let i = 0; i < 10_000 && size <= bytes_max; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, bytes_max + 1).toString('utf8');
}

export function validSchedule(schedule_ms: unknown): schedule_ms is number[] {
  if (!Array.isArray(schedule_ms) || schedule_ms.length === 0 || schedule_ms.length > SCHEDULE_LENGTH_MAX) return false;
  let previous = 0;
  for (const offset of schedule_ms) {
    if (!Number.isSafeInteger(offset) || offset < previous || offset > SCHEDULE_OFFSET_MS_MAX) return false;
    previous = offset;
  }
  return schedule_ms[0] === 0;
}

export class Notifier {
  #schedule_ms: number[];
  readonly #deliveries = new Map<number, Delivery>();
  readonly #rules: FaultRule[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #next_id = 1;
  #stopped = false;

  readonly #onAttempt: ((delivery: Delivery, attempt: DeliveryAttempt) => void) | null;

  /** `onAttempt` sees every attempt (the gateway process logs them for `npm start`). */
  constructor(schedule_ms: readonly number[], onAttempt: ((delivery: Delivery, attempt: DeliveryAttempt) => void) | null = null) {
    if (!validSchedule([...schedule_ms])) throw new RangeError('invalid retry schedule');
    this.#schedule_ms = [...schedule_ms];
    this.#onAttempt = onAttempt;
  }

  get schedule_ms(): number[] {
    return [...this.#schedule_ms];
  }

  /** Applies to attempts scheduled from now on. */
  setSchedule(schedule_ms: number[]): void {
    if (!validSchedule(schedule_ms)) throw new RangeError('invalid retry schedule');
    this.#schedule_ms = [...schedule_ms];
  }

  addFault(rule: Omit<FaultRule, 'id'>): FaultRule {
    if (this.#rules.length >= FAULT_RULES_MAX) throw new RangeError(`at most ${FAULT_RULES_MAX} fault rules`);
    if (!Number.isSafeInteger(rule.remaining) || rule.remaining < 1 || rule.remaining > 1000) throw new RangeError('count must be 1..1000');
    if (!Number.isSafeInteger(rule.copies) || rule.copies < 0 || rule.copies > DUPLICATE_COPIES_MAX) throw new RangeError('copies out of range');
    if (!Number.isSafeInteger(rule.delay_ms) || rule.delay_ms < 0 || rule.delay_ms > DELAY_MS_MAX) throw new RangeError('delay_ms out of range');
    const stored = { ...rule, id: this.#next_id++ };
    this.#rules.push(stored);
    return stored;
  }

  faults(): FaultRule[] {
    return this.#rules.map((rule) => ({ ...rule }));
  }

  clearFaults(): void {
    this.#rules.length = 0;
  }

  deliveries(filter: { out_trade_no?: string; channel?: string } = {}): Delivery[] {
    return [...this.#deliveries.values()].filter(
      (d) =>
        (filter.out_trade_no === undefined || d.notification.out_trade_no === filter.out_trade_no) &&
        (filter.channel === undefined || d.notification.channel === filter.channel),
    );
  }

  /** Takes the rules that match, consuming one use of each. */
  #matchingRules(notification: OutgoingNotification): FaultRule[] {
    const matched: FaultRule[] = [];
    for (const rule of this.#rules) {
      if (rule.out_trade_no !== null && rule.out_trade_no !== notification.out_trade_no) continue;
      matched.push({ ...rule });
      rule.remaining--;
    }
    for (let i = this.#rules.length - 1; i >= 0; i--) if (this.#rules[i]!.remaining <= 0) this.#rules.splice(i, 1);
    return matched;
  }

  enqueue(notification: OutgoingNotification): void {
    if (this.#stopped) return;
    const rules = this.#matchingRules(notification);
    const actions = rules.map((rule) => rule.action);
    const now_ms = Date.now();
    if (actions.includes('drop')) {
      this.#record(notification, 'dropped', actions, now_ms);
      return;
    }
    const delay_ms = rules.filter((r) => r.action === 'delay').reduce((longest, r) => Math.max(longest, r.delay_ms), 0);
    const copies = rules.filter((r) => r.action === 'duplicate').reduce((total, r) => total + r.copies, 0);
    const hold = actions.includes('hold');
    for (let copy = 0; copy <= Math.min(copies, DUPLICATE_COPIES_MAX); copy++) {
      const delivery = this.#record(notification, hold ? 'held' : 'scheduled', actions, now_ms);
      if (delivery === null || hold) continue;
      this.#later(delay_ms, () => this.#start(delivery));
    }
  }

  /** Sends held deliveries now, one after another (first attempts awaited) so their order is the one asked for. */
  async release(filter: { out_trade_no?: string; order: 'fifo' | 'reverse' }): Promise<number[]> {
    const held = this.deliveries(filter.out_trade_no === undefined ? {} : { out_trade_no: filter.out_trade_no }).filter(
      (d) => d.state === 'held',
    );
    if (filter.order === 'reverse') held.reverse();
    for (const delivery of held) {
      delivery.state = 'scheduled';
      await this.#start(delivery);
    }
    return held.map((d) => d.id);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #record(notification: OutgoingNotification, state: DeliveryState, faults: FaultAction[], now_ms: number): Delivery | null {
    if (this.#deliveries.size >= DELIVERIES_MAX) {
      // Forget the oldest finished delivery; if every one is still live, refuse this one
      // rather than grow without bound (Alipay would retry it from its own side anyway).
      for (const [id, old] of this.#deliveries) {
        if (old.state === 'delivered' || old.state === 'failed' || old.state === 'dropped') {
          this.#deliveries.delete(id);
          break;
        }
      }
      if (this.#deliveries.size >= DELIVERIES_MAX) return null;
    }
    const delivery: Delivery = {
      id: this.#next_id++,
      notification,
      state,
      faults,
      created_at_ms: now_ms,
      first_attempt_at_ms: null,
      attempts: [],
    };
    this.#deliveries.set(delivery.id, delivery);
    return delivery;
  }

  #later(delay_ms: number, run: () => Promise<void>): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void run();
    }, delay_ms);
    this.#timers.add(timer);
  }

  async #start(delivery: Delivery): Promise<void> {
    delivery.first_attempt_at_ms = Date.now();
    await this.#attempt(delivery);
  }

  async #attempt(delivery: Delivery): Promise<void> {
    if (this.#stopped || delivery.state !== 'scheduled') return;
    if (delivery.attempts.length > 0 && delivery.notification.resign !== undefined) {
      const fresh = await delivery.notification.resign(Date.now());
      delivery.notification = { ...delivery.notification, headers: fresh.headers, body: fresh.body };
    }
    const attempt = await this.#send(delivery.notification);
    delivery.attempts.push(attempt);
    this.#onAttempt?.(delivery, attempt);
    if (attempt.acknowledged) {
      delivery.state = 'delivered';
      return;
    }
    const next = this.#schedule_ms[delivery.attempts.length];
    if (next === undefined) {
      delivery.state = 'failed';
      return;
    }
    const wait_ms = Math.max(0, delivery.first_attempt_at_ms! + next - Date.now());
    this.#later(wait_ms, () => this.#attempt(delivery));
  }

  async #send(notification: OutgoingNotification): Promise<DeliveryAttempt> {
    const at_ms = Date.now();
    try {
      const response = await fetch(notification.url, {
        method: 'POST',
        headers: notification.headers,
        body: notification.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      const text = await readLimited(response, RESPONSE_READ_BYTES_MAX);
      const acknowledged =
        notification.channel === 'alipay' ? text === 'success' : response.status >= 200 && response.status < 300;
      return { at_ms, status: response.status, response: text.slice(0, RESPONSE_KEPT_CHARS_MAX), acknowledged };
    } catch (err) {
      return { at_ms, status: null, response: String(err instanceof Error ? err.message : err).slice(0, RESPONSE_KEPT_CHARS_MAX), acknowledged: false };
    }
  }
}
