// Random schedules in tests (Node only): seeded from the environment, printed, replayable.
// `YIKATONG_TEST_SEED=1234 npx vitest run test/hub/crash.test.ts` replays a run that failed.
import { resolveTestSeed, SEED_MAX, TEST_SEED_ENV } from './test-seed.ts';

export { TEST_SEED_ENV } from './test-seed.ts';

export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/**
 * A generator for one test file's schedule. The seed is the environment's when set, else fresh;
 * either way it is printed with `name`, so a failure can be replayed exactly.
 */
export function seededRandom(name: string, env: NodeJS.ProcessEnv = process.env): SeededRandom {
  return randomFromSeed(resolveTestSeed(name, env[TEST_SEED_ENV]));
}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function randomFromSeed(seed: number): SeededRandom {
  if (!Number.isInteger(seed) || seed < 0 || seed > SEED_MAX) throw new RangeError(`seed ${seed}`);
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    seed,
    next,
    int(min, max) {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) throw new RangeError(`int(${min}, ${max})`);
      return min + Math.floor(next() * (max - min + 1));
    },
    pick(items) {
      if (items.length === 0) throw new RangeError('pick from nothing');
      return items[Math.floor(next() * items.length)]!;
    },
  };
}
