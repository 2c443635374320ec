// Error codes of every HTTP surface (Worker, hub, POS). Errors are always
// `{"error": {"code", "message"}}` with a 4xx status, so clients branch on `code`.

export const ERROR_CODES = [
  'invalid_json',
  'invalid_body',
  'invalid_query',
  'unsupported_media_type',
  'payload_too_large',
  'not_found',
  'method_not_allowed',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'conflict',
  // Card lookup and top-up: a wrong name and an unknown card get the same code on purpose.
  'card_not_found',
  'card_not_active',
  'card_token_invalid',
  'school_not_found',
  'amount_out_of_range',
  'terms_not_agreed',
  'channel_unavailable',
  'payment_provider_error',
  'order_not_found',
  'refund_not_allowed',
  // The card already has as many unpaid orders as it may (pay or let one expire first).
  'too_many_open_orders',
  // A secret or provider the route needs is missing from the Worker's configuration (503).
  'not_configured',
  // Hub and POS.
  'signature_invalid',
  'timestamp_out_of_window',
  'replayed',
  'unknown_hub',
  'unknown_terminal',
  'claim_not_found',
  'claim_conflict',
  'txn_seq_replayed',
  // POS v2 loads (DESIGN section 6): the card's own evidence refused or in doubt.
  'mac1_invalid',
  'asn_mismatch',
  'card_keys_unsupported',
  'tac_invalid',
  'offer_changed',
  'card_busy',
  'card_frozen',
  'serial_exhausted',
  // The hub offers no loads now: a standby, retiring, retired or dead hub, or one re-reading its
  // credits from the Worker after its store went back in time (DESIGN section 6).
  'hub_not_offering',
  // The hub push channel is a WebSocket: a plain GET of it gets 426.
  'upgrade_required',
  'hub_not_found',
  // A hub key registered for another hub (DESIGN section 6: one key, one hub).
  'public_key_in_use',
  // Auto top-up: no such agreement for this card; the card already has an active one.
  'agreement_not_found',
  'agreement_exists',
  // Hub fleet (DESIGN section 6, "One owner per credit"): a claim or void answer from a hub that
  // does not own the credit; a pull from below the cursor the hub already confirmed durable
  // (it lost state: re-sync with GET /api/v1/hub/snapshot); a credit whose owning hub is dead
  // (frozen until that hub's store syncs or the card office settles it); a hub state change
  // the rules do not allow.
  'not_owner',
  'hub_state_regressed',
  'credit_frozen',
  'hub_transition_not_allowed',
  // Console (issue 10): a state-changing request without the session's CSRF token or from
  // another origin; a sign-in whose name, password or Access assertion was not accepted.
  'csrf_refused',
  'sign_in_failed',
  'access_not_configured',
  // Card replacement (补卡): the card is closed (replaced already); the new number or the new
  // chip's asn is another card's.
  'card_closed',
  'card_no_taken',
  'asn_taken',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}
