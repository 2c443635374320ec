// The hub at one campus's size (DESIGN section 11: up to 1M cards; the hub rebuilds from its
// store in seconds): start-up time (spawn → listening, the store read into memory) and RSS
// with 1M cards and their pending credits, beside an empty hub's and beside the bare
// server's RSS holding the same cards in a Map, all in the same run.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initCardKeysFile } from '../../hub/keys/file.ts';
import { generateHubKeyPair } from '../../hub/sync/signer.ts';
import { startService, type Service } from '../../scripts/lib/processes.ts';
import { seedHub, startBenchHub } from '../hub.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CARDS = 1_000_000;
const CARDS_QUICK = 20_000;
// One card in 20 with money waiting at a semester start.
const CREDIT_EVERY = 20;

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS for ${pid}`);
  return kib * 1024;
}

async function startHub(dir: string, db_path: string): Promise<{ service: Service; start_ms: number }> {
  const key_file = path.join(dir, `hub-key-${path.basename(db_path)}.pem`);
  writeFileSync(key_file, (await generateHubKeyPair()).private_pem, { mode: 0o600 });
  const card_keys_file = path.join(dir, 'card-keys.json');
  const started = performance.now();
  // No Worker: the figure is the store and memory, not sync.
  const service = await startBenchHub({ hub_id: 'bench-scale', key_file, db_path, card_keys_file, ready_timeout_ms: 300_000, log_level: 'info' });
  return { service, start_ms: Math.round(performance.now() - started) };
}

async function settledRss(pid: number): Promise<number> {
  // A moment for the start-up's garbage to be collected, as it would be at the first swipes.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return rssBytes(pid);
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

export const suite: BenchSuite = {
  name: 'hub-scale',
  async run({ quick, log }) {
    const cards = quick ? CARDS_QUICK : CARDS;
    const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-scale-'));
    const services: Service[] = [];
    try {
      initCardKeysFile(path.join(dir, 'card-keys.json'), { key_version: 1 });
      const terminals = [{ terminal_id: 'bench-0', key_hex: randomBytes(32).toString('hex'), card_terminal_id: 'BE0000000000' }];
      const empty_db = path.join(dir, 'empty.db');
      seedHub(empty_db, terminals, 0);
      const full_db = path.join(dir, 'full.db');
      const seed_started = performance.now();
      seedHub(full_db, terminals, cards, CREDIT_EVERY);
      log(`registry: ${cards} cards, ${Math.ceil(cards / CREDIT_EVERY)} pending credits written in ${Math.round(performance.now() - seed_started)} ms`);

      const empty = await startHub(dir, empty_db);
      services.push(empty.service);
      const empty_rss = await settledRss(empty.service.pid);
      await services.pop()!.stop();
      log(`empty hub: start ${empty.start_ms} ms, RSS ${mib(empty_rss)} MiB`);

      const full = await startHub(dir, full_db);
      services.push(full.service);
      const full_rss = await settledRss(full.service.pid);
      await services.pop()!.stop();
      log(`hub with ${cards} cards: start ${full.start_ms} ms, RSS ${mib(full_rss)} MiB`);

      const bare = await startService({
        name: 'bare',
        command: process.execPath,
        args: ['bench/bare-server.ts'],
        cwd: ROOT,
        env: { ...process.env, BENCH_CARDS: String(cards), BENCH_CREDIT_EVERY: String(CREDIT_EVERY), BENCH_BARE_CARD_RECORDS: '1' },
        ready: /bare listening (\d+)/,
        ready_timeout_ms: 120_000,
      });
      services.push(bare);
      const bare_rss = await settledRss(bare.pid);
      await services.pop()!.stop();
      log(`bare server with ${cards} cards: RSS ${mib(bare_rss)} MiB`);

      const label = cards === CARDS ? '1M cards' : `${cards.toLocaleString('en-US')} cards`;
      const figures: BenchFigure[] = [
        {
          name: `hub start-up, ${label}`,
          value: full.start_ms,
          unit: 'ms',
          baseline: { name: 'empty hub', value: empty.start_ms },
          goal: 'seconds (DESIGN 11: rebuilds from its store in seconds)',
          ok: full.start_ms <= 10_000,
          notes: [`spawn → "hub listening" (store opened, cards and credits read into memory); ${Math.ceil(cards / CREDIT_EVERY)} pending credits`],
        },
        {
          name: `hub RSS, ${label}`,
          value: mib(full_rss),
          unit: 'MiB',
          baseline: { name: 'bare server (the same cards and credits in Maps)', value: mib(bare_rss) },
          notes: [`empty hub ${mib(empty_rss)} MiB; VmRSS 1 s after listening`],
        },
      ];
      return figures;
    } finally {
      for (const service of services.reverse()) await service.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
