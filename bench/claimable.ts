// Paid → claimable at the hub (issue 3): the real Worker (`wrangler dev`) and gateway started
// as `npm start` starts them, a hub synced with it (push channel + the default 5 s poll), and
// a payer paying top-ups one after another. Measured from pressing "pay" at the cashier to the
// first swipe that is offered the load (the terminal swipes every 20 ms).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCampus } from '../scripts/start.ts';
import { DEMO_CARDS } from '../sim/demo-campus.ts';
import { HubHarness } from '../test/hub/helpers/hub.ts';
import { createTopUp, pressPay } from '../test/hub/helpers/payer.ts';

const SWIPE_EVERY_MS = 20;
const WAIT_MS_MAX = 30_000;
// The Worker rate-limits top-ups per card (10 a minute): the samples rotate over the demo
// school's active cards.
const CARDS = [
  { school_id: 'bjtu-weihai', name: '张三', card_no: '20230001' },
  { school_id: 'bjtu-weihai', name: '李小红', card_no: '20230002' },
  { school_id: 'bjtu-weihai', name: '王老师', card_no: 'T1001' },
  { school_id: 'bjtu-weihai', name: '访客', card_no: '999' },
  { school_id: 'bjtu-weihai', name: '赵六', card_no: 'F000999' },
] as const;

export interface ClaimableResult {
  samples_ms: number[];
  p50_ms: number;
  p99_ms: number;
  push_connected: boolean;
}

export async function measureClaimable(samples: number, poll_interval_ms: number): Promise<ClaimableResult> {
  const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-claimable-'));
  const campus = await startCampus({ worker_port: 0, gateway_port: 0, state_dir: path.join(work_dir, 'state'), dev_dir: work_dir });
  const hub = new HubHarness({ worker_url: campus.worker_url, hub_id: 'bench-claimable', poll_interval_ms });
  try {
    await hub.init();
    const public_key = hub.public_key;
    const registered = await fetch(`${campus.worker_url}/api/v1/admin/hubs/bench-claimable`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${campus.keys.admin_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: CARDS[0].school_id, public_key }),
    });
    if (!registered.ok) throw new Error(`hub registration: ${registered.status} ${await registered.text()}`);
    const registered_terminal = await hub.addTerminal('bench-pos');
    await hub.start();
    const terminal = hub.terminal(registered_terminal);
    const asnOf = (card_no: string) => DEMO_CARDS.find((demo) => demo.card_no === card_no)!.asn;
    const chips = new Map(CARDS.map((card) => [card.card_no, hub.card(card.card_no, { balance_fen: 0, online_serial: 0 }, asnOf(card.card_no))]));
    // Wait (bounded) for the first pull and the push channel.
    for (let i = 0; i < 200 && !(await hub.health()).push_connected; i++) await new Promise((r) => setTimeout(r, 50));
    const push_connected = (await hub.health()).push_connected === true;
    const samples_ms: number[] = [];
    for (let i = 0; i < samples; i++) {
      const card = CARDS[i % CARDS.length]!;
      const chip = chips.get(card.card_no)!;
      const created = await createTopUp(campus.worker_url, card, 100 + i);
      const paid_at = performance.now();
      await pressPay(created.pay_url);
      let loaded = false;
      while (!loaded && performance.now() - paid_at < WAIT_MS_MAX) {
        const tap = await terminal.tap(card.card_no, chip);
        if (tap.load !== null) loaded = true;
        else await new Promise((r) => setTimeout(r, SWIPE_EVERY_MS));
      }
      samples_ms.push(loaded ? performance.now() - paid_at : Number.POSITIVE_INFINITY);
    }
    const sorted = [...samples_ms].sort((a, b) => a - b);
    const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
    terminal.close();
    return { samples_ms: samples_ms.map(Math.round), p50_ms: at(0.5), p99_ms: at(0.99), push_connected };
  } finally {
    if (process.env.BENCH_DEBUG !== undefined) process.stderr.write(hub.service?.output() ?? '');
    await hub.cleanup();
    await campus.stop();
    rmSync(work_dir, { recursive: true, force: true });
  }
}
