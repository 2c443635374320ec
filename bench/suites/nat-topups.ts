// A campus behind one NAT'd address at semester start (issue 11; DESIGN section 4): 1,000
// students top up 1,000 different cards, typed by name, from one client address within a
// minute — and, from that same address, somebody guessing one card's holder name is still
// stopped after a handful of tries. Against `wrangler dev` with wrangler.toml's RATE_LIMIT_*
// bindings (worker/http/rate-limit.ts), the rate limiter running as it does locally.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCampus } from '../../scripts/start.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

const SCHOOL_ID = 'bench-nat';
// One address for everything below: the campus NAT's (a documentation address).
const CAMPUS_IP = '203.0.113.7';
const WINDOW_S = 60;
// Every top-up is sent even when the machine is too slow to send them all within the window: a
// refusal by a limit must show however long the run takes.
const RUN_S_MAX = 240;
const CONCURRENCY = 8;
// wrangler.toml: per card and per holder name 10 a minute; per address 3,000; per school 6,000.
const CARD_LIMIT_PER_MINUTE = 10;
const ADDRESS_LIMIT_PER_MINUTE = 3_000;
// Windows are aligned to the wall clock: a burst straddling an edge gets up to two windows' worth.
const GUESSES_ALLOWED_MAX = 2 * CARD_LIMIT_PER_MINUTE;
const GUESSES_SENT_MAX = 3 * CARD_LIMIT_PER_MINUTE;
const REQUEST_TIMEOUT_MS = 15_000;

function cardNo(i: number): string {
  return `N${String(i).padStart(6, '0')}`;
}

function holderName(i: number): string {
  return `学生${i}`;
}

async function post(url: string, body: unknown): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': CAMPUS_IP },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  await response.body?.cancel();
  return response.status;
}

export const suite: BenchSuite = {
  name: 'nat-topups',
  async run({ quick, log }) {
    const cards = quick ? 100 : 1_000;
    const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-nat-'));
    const campus = await startCampus({ worker_port: 0, gateway_port: 0, state_dir: path.join(work_dir, 'state'), dev_dir: work_dir, log });
    try {
      const admin = { authorization: `Bearer ${campus.keys.admin_token}` };
      const school = await fetch(`${campus.worker_url}/api/v1/admin/schools/${SCHOOL_ID}`, {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: '压测大学', city: '威海', initial: 'Y', max_amount_fen: 100_000 }),
      });
      if (!school.ok) throw new Error(`school: ${school.status} ${await school.text()}`);
      const csv = ['card_no,name,kind,status', ...Array.from({ length: cards }, (_, i) => `${cardNo(i)},${holderName(i)},student,active`)].join('\n');
      const imported = await fetch(`${campus.worker_url}/api/v1/admin/schools/${SCHOOL_ID}/cards`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'text/csv' },
        body: csv,
      });
      const import_body = (await imported.json()) as { imported?: number };
      if (import_body.imported !== cards) throw new Error(`import: ${imported.status} ${JSON.stringify(import_body).slice(0, 300)}`);

      // Each student types school, name and number: the path with every limit on it.
      log(`${cards} top-ups by name from ${CAMPUS_IP}, ${CONCURRENCY} at a time`);
      const statuses = new Map<number, number>();
      let next = 0;
      const started = performance.now();
      const deadline = started + RUN_S_MAX * 1_000;
      let within_window = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let i = next++; i < cards && performance.now() < deadline; i = next++) {
            const status = await post(`${campus.worker_url}/api/v1/recharges`, {
              school_id: SCHOOL_ID,
              name: holderName(i),
              card_no: cardNo(i),
              amount_fen: 10_000,
              channel: 'alipay',
              agree_terms: true,
            }).catch(() => 0);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status === 201 && performance.now() - started <= WINDOW_S * 1_000) within_window += 1;
          }
        }),
      );
      const elapsed_s = (performance.now() - started) / 1_000;
      const created = statuses.get(201) ?? 0;
      const answered = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));

      // Then, from the same address, one card's holder name guessed.
      const target = cardNo(0);
      let guesses_answered = 0;
      let refused_at: number | null = null;
      for (let i = 0; i < GUESSES_SENT_MAX && refused_at === null; i++) {
        const status = await post(`${campus.worker_url}/api/v1/cards/lookup`, { school_id: SCHOOL_ID, name: `猜${i}`, card_no: target });
        if (status === 429) refused_at = i;
        else guesses_answered += 1;
      }
      const right_name = await post(`${campus.worker_url}/api/v1/cards/lookup`, { school_id: SCHOOL_ID, name: holderName(0), card_no: target });
      const neighbour = await post(`${campus.worker_url}/api/v1/cards/lookup`, { school_id: SCHOOL_ID, name: holderName(1), card_no: cardNo(1) });
      const figures: BenchFigure[] = [
        {
          name: `distinct cards topped up by name from one address, none refused by a limit`,
          value: created,
          unit: 'top-ups',
          baseline: { name: 'top-ups sent', value: cards },
          goal: `all ${cards}, none answered 429`,
          ok: created === cards && (statuses.get(429) ?? 0) === 0,
          notes: [`answers ${JSON.stringify(answered)}; per-address ceiling ${ADDRESS_LIMIT_PER_MINUTE}/min`],
        },
        {
          name: `top-ups of those accepted within the first ${WINDOW_S} s`,
          value: within_window,
          unit: 'top-ups',
          baseline: { name: 'top-ups sent', value: cards },
          goal: `all ${cards} within ${WINDOW_S} s`,
          ok: within_window === cards,
          notes: [
            `all sent in ${elapsed_s.toFixed(1)} s, ${(created / elapsed_s).toFixed(1)} top-ups/s, ${CONCURRENCY} at a time against one local workerd process`,
            'the rate is the local Worker\'s on this machine (see its load average), not a limit: production runs requests in many isolates',
          ],
        },
        {
          name: "wrong-name guesses of one card answered before 429, from the same address",
          value: guesses_answered,
          unit: 'guesses',
          baseline: { name: 'per-card limit a minute', value: CARD_LIMIT_PER_MINUTE },
          goal: `refused within ${GUESSES_ALLOWED_MAX} (two clock-aligned windows), and the right name refused too`,
          ok: refused_at !== null && guesses_answered <= GUESSES_ALLOWED_MAX && right_name === 429,
          notes: [`right name afterwards: ${right_name}; another card from the same address: ${neighbour}`],
        },
      ];
      return figures;
    } finally {
      await campus.stop();
      rmSync(work_dir, { recursive: true, force: true });
    }
  },
};
