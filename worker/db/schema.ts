// The D1 ledger. Times are integer ms since the epoch (`*_at_ms`), money integer fen
// (`*_fen`). DESIGN section 3's invariants are enforced here where SQL can (unique order per
// credit, check constraints) and checked by `npm run audit` where it cannot.
import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const schools = sqliteTable('schools', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  city: text('city').notNull(),
  initial: text('initial').notNull(),
  max_amount_fen: integer('max_amount_fen').notNull().default(100_000),
  created_at_ms: integer('created_at_ms').notNull(),
  updated_at_ms: integer('updated_at_ms').notNull(),
});

export const cards = sqliteTable(
  'cards',
  {
    school_id: text('school_id').notNull().references(() => schools.id),
    card_no: text('card_no').notNull(),
    holder_name: text('holder_name').notNull(),
    // NFKC, spaces removed: what a typed name is compared against.
    holder_name_key: text('holder_name_key').notNull(),
    kind: text('kind', { enum: ['student', 'staff', 'visitor'] }).notNull(),
    status: text('status', { enum: ['active', 'lost', 'frozen', 'closed'] }).notNull(),
    // Last chip balance a POS reported, and when; null until the first report.
    balance_fen: integer('balance_fen'),
    balance_as_of_ms: integer('balance_as_of_ms'),
    // The chip's online transaction serial at that report (DESIGN section 6): what a hub that
    // lost its store learns back, so it never offers again a load the card already has.
    online_serial: integer('online_serial'),
    // The chip's application serial number (16 upper-case hex), from the registry: the hub
    // derives the card's keys from it. Null until the card office imports it; such a card
    // is never offered a load.
    asn: text('asn'),
    updated_at_ms: integer('updated_at_ms').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.school_id, t.card_no] }),
    // Two card numbers with one chip would let one card spend the other's money.
    uniqueIndex('cards_school_asn').on(t.school_id, t.asn),
  ],
);

export const orders = sqliteTable(
  'orders',
  {
    // Our out_trade_no at both providers.
    id: text('id').primaryKey(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    channel: text('channel', { enum: ['alipay', 'wechat'] }).notNull(),
    // 'topup' from the PWA; 'auto' from an auto top-up agreement.
    origin: text('origin', { enum: ['topup', 'auto'] }).notNull().default('topup'),
    status: text('status', { enum: ['unpaid', 'paid', 'closed', 'refunded'] }).notNull(),
    notify_phone: text('notify_phone'),
    provider_trade_no: text('provider_trade_no'),
    created_at_ms: integer('created_at_ms').notNull(),
    expires_at_ms: integer('expires_at_ms').notNull(),
    paid_at_ms: integer('paid_at_ms'),
    closed_at_ms: integer('closed_at_ms'),
    refunded_at_ms: integer('refunded_at_ms'),
    // Expiry handling asks the provider a bounded number of times before giving up on it.
    expiry_attempts: integer('expiry_attempts').notNull().default(0),
    // When the expiry cron may next ask the provider about this unpaid order; null means at
    // expiry. A provider that cannot answer pushes it back exponentially (worker/cron/expire.ts).
    next_query_at_ms: integer('next_query_at_ms'),
  },
  (t) => [
    index('orders_card_created').on(t.school_id, t.card_no, t.created_at_ms),
    index('orders_status_expires').on(t.status, t.expires_at_ms),
    index('orders_created').on(t.created_at_ms),
    // Reconciliation reads a channel's payments of one day by the provider's payment time.
    index('orders_channel_paid').on(t.channel, t.paid_at_ms),
    // The console pages a school's orders newest first (ids begin with the China time).
    index('orders_school_id').on(t.school_id, t.id),
    // The expiry cron's batch reads orders_status_due, an expression index on (status,
    // coalesce(next_query_at_ms, expires_at_ms)) that drizzle-kit cannot write: see
    // migrations/0008_orders_status_due.sql.
    check('orders_amount_positive', sql`${t.amount_fen} > 0`),
  ],
);

export const credits = sqliteTable(
  'credits',
  {
    id: text('id').primaryKey(),
    // One credit per paid order, enforced by the database, not by the code path.
    order_id: text('order_id').notNull(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    // 'moved': the card was replaced (补卡) and this credit's money went on as a new credit of
    // the new card (moved_from_credit_id there); a moved credit is neither claimable nor refundable.
    state: text('state', { enum: ['pending', 'claimed', 'voided', 'moved'] }).notNull(),
    claim_id: text('claim_id'),
    // A refund asked the hub to void this credit; the refund completes on the hub's answer.
    void_requested_at_ms: integer('void_requested_at_ms'),
    created_at_ms: integer('created_at_ms').notNull(),
    claimed_at_ms: integer('claimed_at_ms'),
    voided_at_ms: integer('voided_at_ms'),
    // The one hub that decides this credit's fate (DESIGN section 6, "One owner per credit"):
    // set in the D1 batch of the first changes page that hands the credit to an active hub,
    // cleared only when the card office releases it (a retired or dead hub's). Null: no hub
    // has it, so a refund voids it at once.
    owner_hub_id: text('owner_hub_id'),
    // The hub whose `voided` answer voided it; null when the Worker voided it itself.
    void_hub_id: text('void_hub_id'),
    // Set on the credit a move created: the credit of the replaced card it continues.
    moved_from_credit_id: text('moved_from_credit_id'),
    moved_at_ms: integer('moved_at_ms'),
  },
  (t) => [
    // One live credit per paid order; moved credits are its history (DESIGN invariant 1 as
    // card replacement amends it).
    uniqueIndex('credits_order').on(t.order_id).where(sql`state <> 'moved'`),
    // A moved credit has one successor: a chain, never a fork.
    uniqueIndex('credits_moved_from').on(t.moved_from_credit_id),
    index('credits_card_state').on(t.school_id, t.card_no, t.state),
    index('credits_state_created').on(t.state, t.created_at_ms),
    // The console's pending ageing: a school's pending credits, oldest first.
    index('credits_school_state_created').on(t.school_id, t.state, t.created_at_ms),
    index('credits_claim').on(t.claim_id),
    // A hub's snapshot pages its credits by id; the console counts its pending ones.
    index('credits_owner').on(t.owner_hub_id, t.id),
    index('credits_owner_state').on(t.owner_hub_id, t.state, t.amount_fen),
    check('credits_amount_positive', sql`${t.amount_fen} > 0`),
    check('credits_claimed_has_claim', sql`(${t.state} = 'claimed') = (${t.claim_id} IS NOT NULL)`),
  ],
);

export const claims = sqliteTable(
  'claims',
  {
    // Made by the hub; a batch sent twice carries the same ids.
    id: text('id').primaryKey(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    hub_id: text('hub_id').notNull(),
    terminal_id: text('terminal_id').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    balance_after_fen: integer('balance_after_fen'),
    online_serial_after: integer('online_serial_after'),
    // The 6 bytes the card saw as terminal id (12 hex): part of the TAC.
    card_terminal_id: text('card_terminal_id'),
    // The card's proof of the write (DESIGN invariant 7): 'tac' from CREDIT FOR LOAD, 'prove'
    // read back with GET TRANSACTION PROVE (both in proof_tac), or 'serial': the card's
    // MAC1-verified serial seen past the load (online_serial_seen). Null only on a ledger bug,
    // which the audit names.
    // 'office': the card office settled a frozen credit with evidence from the card
    // (credit_settlements holds the decision): DESIGN invariant 7's audit-trail case.
    // 'decision': the card office settled a grey record as loaded, its console_audit row the proof.
    proof_kind: text('proof_kind', { enum: ['tac', 'prove', 'serial', 'office', 'decision'] }),
    proof_tac: text('proof_tac'),
    online_serial_seen: integer('online_serial_seen'),
    committed_at_ms: integer('committed_at_ms').notNull(),
    received_at_ms: integer('received_at_ms').notNull(),
  },
  (t) => [index('claims_card').on(t.school_id, t.card_no)],
);

// The per-school changes feed the hub pulls (DESIGN section 6). Rows are written by triggers
// (migrations/0001_triggers.sql) in the same transaction as the change itself, so no code
// path can change a credit or a card without its hub hearing of it.
export const changes = sqliteTable(
  'changes',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    school_id: text('school_id').notNull(),
    // 'hold': the card office settled a hub's card hold (card_holds), for that hub only.
    kind: text('kind', { enum: ['credit', 'void', 'card', 'hold'] }).notNull(),
    // Credit id for 'credit' and 'void', card_no for 'card' and 'hold'.
    ref: text('ref').notNull(),
    created_at_ms: integer('created_at_ms').notNull(),
  },
  (t) => [
    index('changes_school_seq').on(t.school_id, t.seq),
    // A refund finds its credit's change to learn whether a hub may already hold the credit.
    index('changes_ref_kind').on(t.ref, t.kind),
  ],
);

export const hubs = sqliteTable(
  'hubs',
  {
    id: text('id').primaryKey(),
    school_id: text('school_id').notNull(),
    // Ed25519, SPKI base64.
    public_key: text('public_key').notNull(),
    created_at_ms: integer('created_at_ms').notNull(),
    updated_at_ms: integer('updated_at_ms').notNull(),
    last_seen_at_ms: integer('last_seen_at_ms'),
    last_cursor: integer('last_cursor'),
    // The highest change seq ever sent to this hub, raised in the same transaction that reads the
    // changes: a credit at or below it may be in the hub's hands, so only the hub may void it.
    sent_through_seq: integer('sent_through_seq'),
    // DESIGN section 6 handover; the rules are in protocol/hub.ts ("Hub fleet contract").
    state: text('state', { enum: ['active', 'standby', 'retiring', 'retired', 'dead'] }).notNull().default('active'),
    state_reason: text('state_reason'),
    state_changed_at_ms: integer('state_changed_at_ms').notNull().default(0),
    // The highest `after` the hub ever pulled with: what it confirmed durable. A pull from
    // below it comes from a hub that lost state (409 hub_state_regressed).
    durable_cursor: integer('durable_cursor'),
    // When the retiring hub confirmed its outbox and reservations were empty.
    drained_at_ms: integer('drained_at_ms'),
  },
  (t) => [
    // A key is one hub's identity: shared by two, a request of one could pass as the other's.
    uniqueIndex('hubs_public_key').on(t.public_key),
    // Two active hubs of one school could both take new credits.
    uniqueIndex('hubs_school_active').on(t.school_id).where(sql`state = 'active'`),
  ],
);

// Every hub state change, by whom and why: the card office's trail of a handover.
export const hubStateEvents = sqliteTable(
  'hub_state_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hub_id: text('hub_id').notNull(),
    school_id: text('school_id').notNull(),
    from_state: text('from_state').notNull(),
    to_state: text('to_state').notNull(),
    reason: text('reason').notNull(),
    at_ms: integer('at_ms').notNull(),
  },
  (t) => [index('hub_state_events_hub').on(t.hub_id, t.id)],
);

// A credit leaving its owner: released by a drained retiring hub, or by the card office for a
// dead one. The old owner's snapshot reports it as `moved`; the audit allows no other change
// of owner. (Not credit_moves: those carry a replaced card's credits to its new card.)
export const creditHandovers = sqliteTable(
  'credit_handovers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    credit_id: text('credit_id').notNull(),
    school_id: text('school_id').notNull(),
    from_hub_id: text('from_hub_id').notNull(),
    reason: text('reason', { enum: ['retired', 'released'] }).notNull(),
    moved_at_ms: integer('moved_at_ms').notNull(),
  },
  (t) => [index('credit_handovers_from').on(t.from_hub_id, t.credit_id), index('credit_handovers_credit').on(t.credit_id)],
);

// The card office's settlement of a frozen credit (its owner is dead), with the card's
// evidence: the audit trail a claim with proof 'office' points to.
export const creditSettlements = sqliteTable('credit_settlements', {
  credit_id: text('credit_id').primaryKey(),
  school_id: text('school_id').notNull(),
  hub_id: text('hub_id').notNull(),
  decision: text('decision', { enum: ['claimed', 'release'] }).notNull(),
  evidence: text('evidence').notNull(),
  actor: text('actor').notNull(),
  claim_id: text('claim_id'),
  settled_at_ms: integer('settled_at_ms').notNull(),
});

// A card a hub froze because its MAC1-verified serial ran ahead of the hub's record (loads the
// hub's store forgot: a restore), for the card office (protocol/hub.ts, "Card holds"). One row
// per hub and card: 'open' until the office settles it with the card's load log ('settled', its
// decision beside it) or the hub's re-sync finds every serial accounted for ('resolved'). A later
// hold of the card, at a serial past the settled one, opens it again.
export const cardHolds = sqliteTable(
  'card_holds',
  {
    hub_id: text('hub_id').notNull(),
    card_no: text('card_no').notNull(),
    school_id: text('school_id').notNull(),
    status: text('status', { enum: ['open', 'settled', 'resolved'] }).notNull(),
    // The serial the card showed (the highest since the hold opened), the hub's record then,
    // and the chip's balance at that load, as the hub reported them.
    online_serial_seen: integer('online_serial_seen').notNull(),
    online_serial_recorded: integer('online_serial_recorded').notNull(),
    balance_fen: integer('balance_fen').notNull(),
    seen_at_ms: integer('seen_at_ms').notNull(),
    created_at_ms: integer('created_at_ms').notNull(),
    reported_at_ms: integer('reported_at_ms').notNull(),
    // The office's decision: the serial it accepted, the credits it found on the card (JSON
    // array, each claimed with proof 'office'), its evidence and who decided.
    online_serial_settled: integer('online_serial_settled'),
    settled_credit_ids: text('settled_credit_ids'),
    evidence: text('evidence'),
    actor: text('actor'),
    settled_at_ms: integer('settled_at_ms'),
    resolved_at_ms: integer('resolved_at_ms'),
  },
  (t) => [
    primaryKey({ columns: [t.hub_id, t.card_no] }),
    index('card_holds_school_status').on(t.school_id, t.status, t.created_at_ms),
    index('card_holds_status').on(t.status, t.created_at_ms),
    // A re-sync's snapshot reads the serial the office settled for a card.
    index('card_holds_card').on(t.school_id, t.card_no),
  ],
);

// Every payment notification, good or bad, as received: the audit trail a dispute needs.
export const notifications = sqliteTable(
  'notifications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    channel: text('channel', { enum: ['alipay', 'wechat'] }).notNull(),
    received_at_ms: integer('received_at_ms').notNull(),
    order_id: text('order_id'),
    // 'applied' changed the ledger; 'duplicate' was already applied; 'rejected' failed a
    // check and changed nothing.
    verdict: text('verdict', { enum: ['applied', 'duplicate', 'rejected'] }).notNull(),
    reason: text('reason'),
    headers: text('headers'),
    body: text('body').notNull(),
  },
  (t) => [index('notifications_order').on(t.order_id), index('notifications_received').on(t.received_at_ms)],
);

// Hub request nonces seen within the signature window; a nonce seen again is a replay. Rows
// outlive their request only until its timestamp could no longer pass the window check.
export const hubNonces = sqliteTable(
  'hub_nonces',
  {
    hub_id: text('hub_id').notNull(),
    nonce: text('nonce').notNull(),
    expires_at_ms: integer('expires_at_ms').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hub_id, t.nonce] }), index('hub_nonces_expires').on(t.expires_at_ms)],
);

// One full refund per order (DESIGN section 7): 'requested' waits for the hub's void answer,
// 'provider_pending' has its credit voided and waits for the provider to return the money,
// 'refunded' is done, 'refused' means the hub had already loaded the credit onto the card,
// 'failed' means the provider ended the refund ABNORMAL or CLOSED: the credit stays voided and
// the money is still owed to the payer, for the card office to settle.
export const refunds = sqliteTable(
  'refunds',
  {
    // Our refund request number at the provider (out_request_no / out_refund_no).
    id: text('id').primaryKey(),
    order_id: text('order_id').notNull(),
    credit_id: text('credit_id').notNull(),
    school_id: text('school_id').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    state: text('state', { enum: ['requested', 'provider_pending', 'refunded', 'refused', 'failed'] }).notNull(),
    // 'direct' voided at the Worker (the credit never reached a hub); 'hub' through a void request.
    route: text('route', { enum: ['direct', 'hub'] }),
    reason: text('reason'),
    provider_attempts: integer('provider_attempts').notNull().default(0),
    last_error: text('last_error'),
    created_at_ms: integer('created_at_ms').notNull(),
    updated_at_ms: integer('updated_at_ms').notNull(),
    voided_at_ms: integer('voided_at_ms'),
    refunded_at_ms: integer('refunded_at_ms'),
    // The provider's word on the refund once it accepted it: null until then (the next attempt
    // submits it again, which both providers answer idempotently by our refund id),
    // 'PROCESSING' while it waits, then 'SUCCESS', 'ABNORMAL' or 'CLOSED'.
    provider_status: text('provider_status', { enum: ['PROCESSING', 'SUCCESS', 'ABNORMAL', 'CLOSED'] }),
    provider_refund_no: text('provider_refund_no'),
    // The time the provider's bill files the refund under: Alipay lists a refund when it is
    // done (gmt_refund_pay), WeChat Pay on the day it was initiated (create_time).
    provider_bill_at_ms: integer('provider_bill_at_ms'),
    failed_at_ms: integer('failed_at_ms'),
  },
  (t) => [
    uniqueIndex('refunds_order').on(t.order_id),
    uniqueIndex('refunds_credit').on(t.credit_id),
    index('refunds_state_updated').on(t.state, t.updated_at_ms),
    index('refunds_bill_at').on(t.provider_bill_at_ms),
    check('refunds_amount_positive', sql`${t.amount_fen} > 0`),
  ],
);

// Reservations a hub could not resolve (DESIGN section 6), for the card office.
export const greyRecords = sqliteTable(
  'grey_records',
  {
    hub_id: text('hub_id').notNull(),
    claim_id: text('claim_id').notNull(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    terminal_id: text('terminal_id').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    // JSON array of credit ids.
    credit_ids: text('credit_ids').notNull(),
    online_serial_after: integer('online_serial_after').notNull(),
    reserved_at_ms: integer('reserved_at_ms').notNull(),
    status: text('status', { enum: ['open', 'resolved'] }).notNull(),
    reported_at_ms: integer('reported_at_ms').notNull(),
    resolved_at_ms: integer('resolved_at_ms'),
  },
  (t) => [
    primaryKey({ columns: [t.hub_id, t.claim_id] }),
    index('grey_records_claim').on(t.claim_id),
    index('grey_records_status_reserved').on(t.status, t.reserved_at_ms),
  ],
);

// Claims a hub sent that the ledger refused (wrong amount, another card's credit, a credit
// already claimed or voided): money the card office must look at, since the card was loaded.
export const claimRejections = sqliteTable(
  'claim_rejections',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hub_id: text('hub_id').notNull(),
    school_id: text('school_id').notNull(),
    claim_id: text('claim_id').notNull(),
    card_no: text('card_no').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    reason: text('reason').notNull(),
    // 'not_owner' when the hub does not own a credit of the claim; 'invalid' otherwise.
    code: text('code', { enum: ['not_owner', 'invalid'] }).notNull().default('invalid'),
    // The claim as the hub sent it (JSON).
    body: text('body').notNull(),
    received_at_ms: integer('received_at_ms').notNull(),
  },
  (t) => [
    // A hub retrying the same batch is told the same answer again, and the office sees it once.
    uniqueIndex('claim_rejections_hub_claim').on(t.hub_id, t.claim_id),
    index('claim_rejections_received').on(t.received_at_ms),
  ],
);

// Void answers a hub sent that the ledger refused (not the owner, no void requested, ...): kept
// for the card office like refused claims, once per hub, credit and answer.
export const voidRejections = sqliteTable(
  'void_rejections',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hub_id: text('hub_id').notNull(),
    school_id: text('school_id').notNull(),
    credit_id: text('credit_id').notNull(),
    result: text('result', { enum: ['voided', 'already_claimed'] }).notNull(),
    code: text('code', { enum: ['not_owner', 'invalid'] }).notNull(),
    reason: text('reason').notNull(),
    received_at_ms: integer('received_at_ms').notNull(),
  },
  (t) => [
    uniqueIndex('void_rejections_hub_credit').on(t.hub_id, t.credit_id, t.result),
    index('void_rejections_received').on(t.received_at_ms),
  ],
);

// The SMS outbox (DESIGN section 7, notices): one row per order and event, written by triggers
// in the same transaction as the ledger change it reports (migrations: notices triggers), so no
// paid, loaded or refunded order with a phone number can miss its notice. The queue producer
// takes `pending` rows, the consumer sends them through Aliyun SMS; `dead` rows are the dead
// letters the card office sees.
export const notices = sqliteTable(
  'notices',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    order_id: text('order_id').notNull(),
    school_id: text('school_id').notNull(),
    kind: text('kind', { enum: ['paid', 'claimed', 'refunded', 'auto_charged'] }).notNull(),
    phone: text('phone').notNull(),
    state: text('state', { enum: ['pending', 'queued', 'sending', 'sent', 'dead'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    last_error: text('last_error'),
    provider_biz_id: text('provider_biz_id'),
    created_at_ms: integer('created_at_ms').notNull(),
    updated_at_ms: integer('updated_at_ms').notNull(),
    sent_at_ms: integer('sent_at_ms'),
  },
  (t) => [
    // Each event of an order is noticed once, however often its trigger fires.
    uniqueIndex('notices_order_kind').on(t.order_id, t.kind),
    index('notices_state_updated').on(t.state, t.updated_at_ms),
  ],
);

// Auto top-up agreements (自动圈存, DESIGN section 7): a card holder's Alipay withholding
// agreement with its threshold, amount and daily cap. `signing` until Alipay's dut_user_sign
// notification (or the agreement query) says signed; `active` while charges may start;
// `stopped` for good (unsigned, cancelled, the card lost, a charge refused), with the reason.
export const agreements = sqliteTable(
  'agreements',
  {
    // Our external_agreement_no at Alipay.
    id: text('id').primaryKey(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    channel: text('channel', { enum: ['alipay'] }).notNull(),
    state: text('state', { enum: ['signing', 'active', 'stopped'] }).notNull(),
    stop_reason: text('stop_reason', { enum: ['unsigned', 'cancelled', 'card_not_active', 'charge_failed', 'replaced'] }),
    provider_agreement_no: text('provider_agreement_no'),
    provider_user_id: text('provider_user_id'),
    threshold_fen: integer('threshold_fen').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    daily_cap_fen: integer('daily_cap_fen').notNull(),
    notify_phone: text('notify_phone'),
    last_error: text('last_error'),
    created_at_ms: integer('created_at_ms').notNull(),
    signed_at_ms: integer('signed_at_ms'),
    stopped_at_ms: integer('stopped_at_ms'),
    updated_at_ms: integer('updated_at_ms').notNull(),
  },
  (t) => [
    index('agreements_card').on(t.school_id, t.card_no, t.created_at_ms),
    // At most one live agreement per card: a second signing replaces the first.
    uniqueIndex('agreements_card_live').on(t.school_id, t.card_no).where(sql`state <> 'stopped'`),
    check('agreements_amounts', sql`${t.amount_fen} > 0 AND ${t.threshold_fen} >= 0 AND ${t.daily_cap_fen} >= ${t.amount_fen}`),
  ],
);

// One withholding charge per card and day-slot: the unique key, not the order of code, is what
// lets many card reports and cron runs race and still start at most one charge (DESIGN
// section 7). Slot n of a China day is the n-th charge that day; the daily cap bounds n.
export const autoCharges = sqliteTable(
  'auto_charges',
  {
    // The charge's order (origin 'auto'); its status is the charge's.
    order_id: text('order_id').primaryKey(),
    agreement_id: text('agreement_id').notNull(),
    school_id: text('school_id').notNull(),
    card_no: text('card_no').notNull(),
    // `YYYY-MM-DD#n`, China calendar day.
    slot: text('slot').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    // Alipay's refusal, when it refused the charge (the agreement stops).
    failure: text('failure'),
    created_at_ms: integer('created_at_ms').notNull(),
  },
  (t) => [
    uniqueIndex('auto_charges_card_slot').on(t.school_id, t.card_no, t.slot),
    index('auto_charges_agreement').on(t.agreement_id),
  ],
);

// Reconciliation against the providers' daily bills (DESIGN section 7): one row per China
// calendar day, channel and school. `school_id` '' holds what the bill has that no order of
// ours explains (the API shows it as school_id null). Written whole by each run of the day, so
// a run that finds the same answers writes the same row.
export const reconciliations = sqliteTable(
  'reconciliations',
  {
    bill_date: text('bill_date').notNull(),
    channel: text('channel', { enum: ['alipay', 'wechat'] }).notNull(),
    school_id: text('school_id').notNull(),
    // 00:00 China time of bill_date, so the audit can recompute the day from the ledger.
    day_start_ms: integer('day_start_ms').notNull(),
    status: text('status', { enum: ['balanced', 'discrepancies', 'pending'] }).notNull(),
    // Payments minus refunds, as the bill lists them and as our ledger has them.
    bill_total_fen: integer('bill_total_fen').notNull(),
    ours_total_fen: integer('ours_total_fen').notNull(),
    // The provider's service fee (net of fees returned with refunds), and what it transfers.
    fee_fen: integer('fee_fen').notNull(),
    net_fen: integer('net_fen').notNull(),
    bill_rows: integer('bill_rows').notNull(),
    discrepancy_count: integer('discrepancy_count').notNull(),
    // JSON array of {kind, order_id?, provider_trade_no?, refund_id?, detail}, bounded.
    discrepancies: text('discrepancies').notNull(),
    // Why the day is pending (the bill could not be fetched), or null.
    error: text('error'),
    first_run_at_ms: integer('first_run_at_ms').notNull(),
  },
  (t) => [primaryKey({ columns: [t.bill_date, t.channel, t.school_id] })],
);

// What reconciliation repaired through the ledger's own paths, kept for good: a later run of the
// same day finds the ledger already right and adds nothing.
export const reconciliationRepairs = sqliteTable(
  'reconciliation_repairs',
  {
    bill_date: text('bill_date').notNull(),
    channel: text('channel', { enum: ['alipay', 'wechat'] }).notNull(),
    school_id: text('school_id').notNull(),
    // 'paid': a paid bill row made its unpaid or closed order paid; 'refunded': a refund the
    // provider finished completed ours.
    kind: text('kind', { enum: ['paid', 'refunded'] }).notNull(),
    order_id: text('order_id').notNull(),
    refund_id: text('refund_id'),
    provider_trade_no: text('provider_trade_no').notNull(),
    amount_fen: integer('amount_fen').notNull(),
    repaired_at_ms: integer('repaired_at_ms').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.bill_date, t.channel, t.kind, t.order_id] }),
    index('reconciliation_repairs_school').on(t.bill_date, t.school_id),
  ],
);

// Console operators (issue 10): accounts of the card office, made by the platform administrator.
// Each sees and acts on its own schools only. A password is stored as PBKDF2-SHA256 with a salt
// of its own; an operator behind Cloudflare Access is known by the Access e-mail instead.
export const operators = sqliteTable(
  'operators',
  {
    id: text('id').primaryKey(),
    display_name: text('display_name').notNull(),
    // JSON array of school ids: read whole with the session, never queried by school.
    school_ids: text('school_ids').notNull(),
    password_hash: text('password_hash'),
    password_salt: text('password_salt'),
    password_iterations: integer('password_iterations'),
    access_email: text('access_email'),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    created_at_ms: integer('created_at_ms').notNull(),
    updated_at_ms: integer('updated_at_ms').notNull(),
  },
  (t) => [uniqueIndex('operators_access_email').on(t.access_email)],
);

// Console sessions: the cookie carries 32 random bytes; only their SHA-256 is stored, so a copy
// of the database signs nobody in. `id` is a separate public handle for listing and revoking.
export const operatorSessions = sqliteTable(
  'operator_sessions',
  {
    id: text('id').primaryKey(),
    token_hash: text('token_hash').notNull(),
    operator_id: text('operator_id').notNull(),
    csrf_token: text('csrf_token').notNull(),
    method: text('method', { enum: ['password', 'access'] }).notNull(),
    address: text('address'),
    user_agent: text('user_agent'),
    created_at_ms: integer('created_at_ms').notNull(),
    last_seen_at_ms: integer('last_seen_at_ms').notNull(),
    expires_at_ms: integer('expires_at_ms').notNull(),
    revoked_at_ms: integer('revoked_at_ms'),
  },
  (t) => [uniqueIndex('operator_sessions_token').on(t.token_hash), index('operator_sessions_operator').on(t.operator_id, t.created_at_ms)],
);

// The console's audit trail (DESIGN section 8): one row per action, written in the same D1
// batch as the change it records, so no action can happen without its row. A grey record
// settled as loaded is proved by its row here (invariant 7: a card-office decision).
export const consoleAudit = sqliteTable(
  'console_audit',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    operator_id: text('operator_id').notNull(),
    school_id: text('school_id').notNull(),
    action: text('action').notNull(),
    target: text('target').notNull(),
    before_json: text('before_json'),
    after_json: text('after_json'),
    at_ms: integer('at_ms').notNull(),
    address: text('address'),
  },
  (t) => [index('console_audit_school').on(t.school_id, t.id), index('console_audit_action_target').on(t.action, t.target)],
);

// Card replacement (补卡): the card office closes a card and issues a new number with a new chip.
// The row is the record of that decision; the money moves credit by credit (credit_moves).
export const cardReplacements = sqliteTable(
  'card_replacements',
  {
    id: text('id').primaryKey(),
    school_id: text('school_id').notNull(),
    old_card_no: text('old_card_no').notNull(),
    new_card_no: text('new_card_no').notNull(),
    new_asn: text('new_asn').notNull(),
    // Who decided: 'admin' for the ADMIN_TOKEN, or the console operator.
    actor: text('actor').notNull(),
    created_at_ms: integer('created_at_ms').notNull(),
  },
  (t) => [
    // A card is replaced once: it is closed by its replacement.
    uniqueIndex('card_replacements_old').on(t.school_id, t.old_card_no),
    uniqueIndex('card_replacements_new').on(t.school_id, t.new_card_no),
  ],
);

// One pending credit of a replaced card on its way to the new card. Like a refund's void
// (DESIGN section 6, one owner per credit): a credit no hub was ever sent moves at once
// ('direct'); one a hub may hold waits for the hub's void answer ('hub'): `voided` moves it,
// `already_claimed` ends the move as 'refused' (the money is on the old card's chip).
export const creditMoves = sqliteTable(
  'credit_moves',
  {
    credit_id: text('credit_id').primaryKey(),
    replacement_id: text('replacement_id').notNull(),
    school_id: text('school_id').notNull(),
    to_card_no: text('to_card_no').notNull(),
    // The id the new credit gets (decided when the move starts, so a repeated answer mints none).
    new_credit_id: text('new_credit_id').notNull(),
    state: text('state', { enum: ['requested', 'moved', 'refused'] }).notNull(),
    route: text('route', { enum: ['direct', 'hub'] }).notNull(),
    created_at_ms: integer('created_at_ms').notNull(),
    updated_at_ms: integer('updated_at_ms').notNull(),
  },
  (t) => [index('credit_moves_replacement').on(t.replacement_id), uniqueIndex('credit_moves_new_credit').on(t.new_credit_id)],
);
