// One loop of the sync client: a fixed list of stages run in order each round, a round when
// woken (push message, commits) and at least once per poll interval, each stage backing off
// on its own while it fails.
//
// The sync client runs two of them, so that pulling the changes feed never waits behind
// sending claims and card reports: with one loop, a push that arrived while a round was
// sending claims waited for that round's claims, voids and card-reports requests before its
// pull — on a slow link or a busy Worker several seconds, nearly the whole poll interval.
import type { Logger } from '../log.ts';

export type WakeCause = 'push' | 'commit' | 'changes' | 'poll' | 'retry' | 'grey' | 'start' | 'stop';

export interface SyncStage {
  name: string;
  run: () => Promise<void>;
}

export interface SyncLaneOptions {
  name: string;
  stages: SyncStage[];
  poll_interval_ms: number;
  backoff: (failures: number) => number;
  log: Logger;
  on_failure: () => void;
  /** Runs after every round, before the lane sleeps (the grey timer's check). */
  after_round?: () => void;
}

interface StageState extends SyncStage {
  failures: number;
  next_at_ms: number;
}

export class SyncLane {
  readonly #options: SyncLaneOptions;
  readonly #stages: StageState[];
  #stopped = false;
  #woken = false;
  // What the next round runs: everything (poll, push, commits) or only some stages (a grey
  // record falling due should not cost a card-reports round its claims).
  #wantAll = true;
  readonly #wantStages = new Set<string>();
  // What asked for the coming round; the round's causes are logged with what it did, so the
  // bench's paid → claimable figure names whether the push or the poll brought a credit.
  readonly #wokenBy = new Set<WakeCause>(['start']);
  #roundCauses: WakeCause[] = [];
  #wakeSleep: (() => void) | null = null;
  #loop: Promise<void> | null = null;

  constructor(options: SyncLaneOptions) {
    if (!(options.poll_interval_ms > 0)) throw new RangeError(`poll_interval_ms must be positive: ${options.poll_interval_ms}`);
    this.#options = options;
    this.#stages = options.stages.map((stage) => ({ ...stage, failures: 0, next_at_ms: 0 }));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake('stop');
    await this.#loop;
  }

  /** Asks for a round of every stage now; cheap to call often. */
  wake(cause: WakeCause): void {
    this.#wokenBy.add(cause);
    this.#wantAll = true;
    this.#woken = true;
    this.#wakeSleep?.();
  }

  /** Asks for a round of one stage now. */
  wakeStage(name: string, cause: WakeCause): void {
    this.#wokenBy.add(cause);
    this.#wantStages.add(name);
    this.#woken = true;
    this.#wakeSleep?.();
  }

  /** What woke the round under way (for its log lines). */
  get round_causes(): readonly WakeCause[] {
    return this.#roundCauses;
  }

  get consecutive_failures(): number {
    return Math.max(0, ...this.#stages.map((stage) => stage.failures));
  }

  async #run(): Promise<void> {
    let last_all_at_ms = 0;
    while (!this.#stopped) {
      // Everything runs when asked and at least once per poll interval.
      const polled = Date.now() - last_all_at_ms >= this.#options.poll_interval_ms;
      const all = this.#wantAll || polled;
      if (all) last_all_at_ms = Date.now();
      const only = new Set(this.#wantStages);
      this.#roundCauses = [...this.#wokenBy];
      if (polled && !this.#wantAll) this.#roundCauses.push('poll');
      if (this.#roundCauses.length === 0) this.#roundCauses.push('retry');
      this.#wokenBy.clear();
      this.#wantAll = false;
      this.#wantStages.clear();
      this.#woken = false;
      this.#options.log.log('debug', 'sync round', { lane: this.#options.name, all, only: [...only], woken_by: this.#roundCauses });
      for (const stage of this.#stages) {
        if (this.#stopped || Date.now() < stage.next_at_ms) continue;
        // A failed stage retries when its backoff is over, whatever woke the loop.
        if (!all && !only.has(stage.name) && stage.failures === 0) continue;
        try {
          await stage.run();
          stage.failures = 0;
        } catch (error) {
          stage.failures += 1;
          this.#options.on_failure();
          const delay_ms = this.#options.backoff(stage.failures);
          stage.next_at_ms = Date.now() + delay_ms;
          this.#options.log.log('warn', 'sync stage failed', { stage: stage.name, error: String((error as Error).message ?? error), retry_in_ms: delay_ms });
        }
      }
      this.#options.after_round?.();
      const now_ms = Date.now();
      const retry_ms = Math.min(...this.#stages.filter((stage) => stage.failures > 0).map((stage) => stage.next_at_ms - now_ms));
      const poll_ms = last_all_at_ms + this.#options.poll_interval_ms - now_ms;
      await this.#sleep(Math.max(0, Math.min(poll_ms, retry_ms)));
    }
  }

  /** Resolves when the time ran out or the lane was woken (or is stopping). */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped || this.#woken) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wakeSleep = null;
        resolve();
      }, ms);
      this.#wakeSleep = () => {
        this.#wakeSleep = null;
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
