// The hub's card key store (DESIGN section 6): the host side of a PBOC load. The ledger asks
// it yes/no questions and for MAC2; it never hands out a key, so an HSM (加密机) can stand
// behind the same interface later without touching the ledger. Every method is async because
// an HSM answers over a wire.

/** What INITIALIZE FOR LOAD told the terminal, with the card's REGISTERED asn. */
export interface CardLoadSession {
  /** The asn registered for the card number (never the one the terminal reports). */
  asn: string;
  key_version: number;
  algorithm_id: number;
  /** The card's 4-byte random, 8 upper-case hex. */
  random: string;
  /** The card's online serial before the load. */
  online_serial: number;
  /** The card's balance before the load. */
  balance_fen: number;
  amount_fen: number;
  /** The 6 bytes the card saw as terminal id, 12 upper-case hex. */
  card_terminal_id: string;
}

/** What the TAC of a load covers; the TAC key does not depend on the session. */
export interface CardLoadWrite {
  asn: string;
  key_version: number;
  algorithm_id: number;
  balance_after_fen: number;
  /** The card's online serial before the load. */
  online_serial: number;
  amount_fen: number;
  card_terminal_id: string;
  /** `YYYYMMDDhhmmss` sent with CREDIT FOR LOAD (the one MAC2 was made for). */
  terminal_time: string;
}

/**
 * `key_version_unknown`: the card's keys are of a version this store does not hold;
 * `algorithm_unsupported`: not 3DES (algorithm 0); `mac_invalid`: the card (or a forger)
 * does not hold the keys diversified from ours for this asn.
 */
export type KeyVerdict = { ok: true } | { ok: false; reason: 'key_version_unknown' | 'algorithm_unsupported' | 'mac_invalid' };

export type Mac2Result = { ok: true; mac2: string } | { ok: false; reason: 'key_version_unknown' | 'algorithm_unsupported' | 'mac_invalid' };

export interface CardKeyStore {
  /** The key version new cards are issued with (what `card-keys init` wrote). */
  readonly key_version: number;
  /** Is `mac1` the card's MAC1 for this session? */
  verifyMac1(session: CardLoadSession, mac1: string): Promise<KeyVerdict>;
  /**
   * MAC2 for this session, made only when `mac1` verifies again, as a PBOC host security
   * module does: the store is never an oracle that signs a load no card asked for.
   */
  makeMac2(session: CardLoadSession, mac1: string, terminal_time: string): Promise<Mac2Result>;
  /** Is `tac` the card's TAC for exactly this write? */
  verifyTac(write: CardLoadWrite, tac: string): Promise<KeyVerdict>;
}
