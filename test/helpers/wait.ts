// Waiting in tests: poll a condition until a deadline, never sleep a fixed time and hope.
// Runs in Node and in workerd alike (only timers and Date).

export const UNTIL_TIMEOUT_MS_DEFAULT = 10_000;
export const UNTIL_INTERVAL_MS_DEFAULT = 25;
// However fast the probe, a wait is a bounded loop.
const UNTIL_PROBES_MAX = 100_000;

export interface UntilOptions {
  /** How long to keep probing before failing the test; generous, the machine is shared. */
  timeout_ms?: number;
  /** Pause between probes. */
  interval_ms?: number;
}

/**
 * Probes until it returns something other than `undefined`, `null` or `false`, and returns
 * that; throws naming `what` (and the last error the probe threw) once timeout_ms has passed.
 * `what` may be a function, read only on failure, to name the last state the probe saw.
 * A negative check ("nothing arrived") is not a wait for nothing: wait with this for a positive
 * signal that the ruled-out event would have happened by then, then assert it did not.
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: UntilOptions = {},
): Promise<T> {
  const timeout_ms = options.timeout_ms ?? UNTIL_TIMEOUT_MS_DEFAULT;
  const interval_ms = options.interval_ms ?? UNTIL_INTERVAL_MS_DEFAULT;
  const name = () => (typeof what === 'string' ? what : what());
  if (!(timeout_ms > 0) || !(interval_ms >= 0)) throw new RangeError(`until(${name()}): timeout_ms ${timeout_ms}, interval_ms ${interval_ms}`);
  const deadline_ms = Date.now() + timeout_ms;
  let last_error: unknown = undefined;
  for (let probes = 0; probes < UNTIL_PROBES_MAX; probes++) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last_error = undefined;
    } catch (error) {
      // An assertion inside the probe may hold later (a row not written yet): keep it for the
      // message, but a probe that always throws still ends at the deadline.
      last_error = error;
    }
    if (Date.now() >= deadline_ms) break;
    await new Promise((resolve) => setTimeout(resolve, interval_ms));
  }
  const why = last_error === undefined ? '' : `; last error: ${last_error instanceof Error ? last_error.message : String(last_error)}`;
  throw new Error(`${name()}: not within ${timeout_ms} ms${why}`);
}
