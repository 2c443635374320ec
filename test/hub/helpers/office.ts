// The card office settling a hub's card hold, as hub/README.md ("Backup and restore") tells it:
// read the card at the desk (sim/pos/reader.ts: its serial and its load log), take the loads
// since the hub's record that no claim at the Worker accounts for, and name the pending credits
// they took: the hub loads exact prefixes of the card's pending credits, oldest first, so each
// lost load is the next run of credits whose amounts add up to it.
import type { AdminCardHoldSettleRequest, CardHoldView } from '../../../protocol/hub.ts';
import { loadsSince, type CardReading } from '../../../sim/pos/reader.ts';

export type OfficeDecision = { ok: true; body: AdminCardHoldSettleRequest; lost_fen: number } | { ok: false; reason: string };

export function officeDecision(hold: CardHoldView, reading: CardReading, actor = 'card-office'): OfficeDecision {
  const loads = loadsSince(reading, hold.online_serial_recorded);
  if (loads === null) return { ok: false, reason: `the card's log does not reach back to serial ${hold.online_serial_recorded} (card at ${reading.online_serial})` };
  const claimed = new Set(hold.claims.map((claim) => claim.online_serial_after));
  // A load's record carries the serial before it; its claim the serial after.
  const lost = loads.filter((load) => !claimed.has(load.serial + 1));
  const pending = [...hold.pending_credits];
  const taken: string[] = [];
  for (const load of lost) {
    let sum_fen = 0;
    while (sum_fen < load.amount_fen) {
      const credit = pending.shift();
      if (credit === undefined) return { ok: false, reason: `no pending credits make up the load of ${load.amount_fen} fen at serial ${load.serial}` };
      sum_fen += credit.amount_fen;
      taken.push(credit.credit_id);
    }
    if (sum_fen !== load.amount_fen) return { ok: false, reason: `the pending credits oldest first do not add up to the load of ${load.amount_fen} fen at serial ${load.serial}` };
  }
  const evidence = `card read at the office: serial ${reading.online_serial}, balance ${reading.balance_fen} fen; loads since serial ${hold.online_serial_recorded}: ${
    loads.map((load) => `#${load.serial} ${load.amount_fen} fen${claimed.has(load.serial + 1) ? ' (claimed)' : ''}`).join(', ') || 'none'
  }`;
  return {
    ok: true,
    body: { loaded_credit_ids: taken, online_serial: reading.online_serial, evidence, actor },
    lost_fen: lost.reduce((sum, load) => sum + load.amount_fen, 0),
  };
}
