// The seed of a test file's random schedule, for Node and workerd alike (workerd has no
// process.env: its tests get the variable from the global setup). Printed either way, so a
// failure replays with `YIKATONG_TEST_SEED=<seed>`.

export const TEST_SEED_ENV = 'YIKATONG_TEST_SEED';
export const SEED_MAX = 0xffff_ffff;

/** The configured seed when one is set, else a fresh one; printed with `name`. */
export function resolveTestSeed(name: string, configured: string | undefined): number {
  const text = configured?.trim() ?? '';
  let seed: number;
  if (text !== '') {
    seed = Number(text);
    if (!Number.isInteger(seed) || seed < 0 || seed > SEED_MAX) throw new RangeError(`${TEST_SEED_ENV}=${text}: not an integer 0..${SEED_MAX}`);
  } else {
    seed = Math.floor(Math.random() * SEED_MAX);
  }
  console.log(`[${name}] random schedule seed ${seed}: replay with ${TEST_SEED_ENV}=${seed}`);
  return seed;
}
