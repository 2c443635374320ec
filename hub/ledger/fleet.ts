// Whether this hub may offer loads now (DESIGN section 6, "One owner per credit" and "A hub that
// lost state"). Three things stop it, each kept apart so the logs and /healthz can name it:
// - its state at the Worker: only an `active` hub offers; a standby holds no credits, a retiring
//   hub drains, a retired or dead one is done;
// - a resync: the Worker refused a pull from below the cursor this hub had confirmed (the store
//   went back in time), so until every credit it owns is re-read from the Worker it may hold
//   pending credits it has in fact loaded. Durable, so a restart mid-resync still does not offer;
// - the first pull of this run: a restored store does not know it was restored until the Worker
//   says so. A card this hub has loaded before is guarded meanwhile by its serial record; a card
//   with none has no guard but the cursor, so it waits for that first pull.

import { HUB_STATES, type HubState } from '../../protocol/hub.ts';

export type NoOfferReason = 'resyncing' | 'unconfirmed' | Exclude<HubState, 'active'>;

export interface FleetGate {
  /** The hub's state as the Worker last said it; `active` until it says otherwise. */
  state: HubState;
  /** Set durably when the Worker refused a pull as regressed; cleared with the resync's last page. */
  resync_required: boolean;
  /** This run has pulled the feed once without being refused (memory only: every start asks again). */
  confirmed: boolean;
  /** Whether the store ever synced with a Worker: a store that never did holds nothing a Worker confirmed. */
  ever_synced: boolean;
  /** A retiring hub told the Worker it is drained (it stays `retiring` until the card office retires it). */
  retire_confirmed: boolean;
}

/** The gate as the store left it: `meta` reads the store's meta table. */
export function readGate(meta: (key: string) => string | undefined): FleetGate {
  const state = meta('hub_state');
  return {
    state: (HUB_STATES as readonly string[]).includes(state ?? '') ? (state as HubState) : 'active',
    resync_required: meta('resync_required') === '1',
    confirmed: false,
    ever_synced: meta('ever_synced') === '1',
    retire_confirmed: meta('retire_confirmed') === '1',
  };
}

/** Why no load may be offered for the card now (null: it may). */
export function noOfferReason(gate: FleetGate, card: { last_online_serial: number | null }): NoOfferReason | null {
  if (gate.state !== 'active') return gate.state;
  if (gate.resync_required) return 'resyncing';
  if (!gate.confirmed && gate.ever_synced && card.last_online_serial === null) return 'unconfirmed';
  return null;
}

export const NO_OFFER_MESSAGES: Readonly<Record<NoOfferReason, string>> = {
  resyncing: 'this hub is re-reading its credits from the Worker after its store went back in time: loads resume when it is done',
  unconfirmed: 'this hub has not reached the Worker since it started, and has no record of this card: loads resume once it has',
  standby: 'this hub is a standby: the active hub of the school loads cards',
  retiring: 'this hub is handing over to another: it loads no more cards',
  retired: 'this hub has handed over to another: it loads no cards',
  dead: 'the card office marked this hub dead: it loads no cards',
};
