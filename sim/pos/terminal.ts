// A POS terminal as vendors build it against hub/openapi.yaml (DESIGN section 6): it talks
// APDUs to the card (sim/pos/card.ts) and signed JSON to the hub over one keep-alive
// connection, verifies every answer's X-Hub-Signature (a forged answer is detected, never
// acted on), and can be told to die at each step of a load.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import {
  HUB_ANSWER_HEADER_SIGNATURE,
  hubAnswerSigningString,
  POS_PATH_LOADS,
  POS_PATH_SWIPE,
  posCommitPath,
  TERMINAL_HEADER_ID,
  TERMINAL_HEADER_SIGNATURE,
  TERMINAL_HEADER_TIMESTAMP,
  terminalSigningString,
  type CommitResponse,
  type LoadRequest,
  type LoadResponse,
  type SwipeResponse,
} from '../../protocol/pos.ts';
import {
  creditForLoadApdu,
  getBalanceApdu,
  getTransactionProveApdu,
  hexOfSw,
  initializeForLoadApdu,
  LOAD_KEY_INDEX,
  parseBalance,
  parseInitForLoad,
  parseProve,
  parsePublicInfo,
  parseTac,
  readPublicInfoApdu,
  SW_MAC_UNAVAILABLE,
  SW_OK,
  type ResponseApdu,
} from './apdu.ts';
import { CardTornError } from './card.ts';

/**
 * Where a tap stops (the terminal "dies": no further APDU, no further request):
 * - `before_init`: after the swipe answer, before INITIALIZE FOR LOAD;
 * - `after_init`: the card answered INITIALIZE FOR LOAD, the hub was not asked;
 * - `after_mac2`: the hub answered MAC2, CREDIT FOR LOAD was never sent;
 * - `credit_torn_unwritten` / `credit_torn_written`: the card loses power during CREDIT FOR
 *   LOAD, before or after it wrote; no TAC reaches the terminal;
 * - `after_credit`: the card wrote and answered its TAC, the commit was never sent.
 */
export const DEATH_POINTS = ['none', 'before_init', 'after_init', 'after_mac2', 'credit_torn_unwritten', 'credit_torn_written', 'after_credit'] as const;
export type DeathPoint = (typeof DEATH_POINTS)[number];

/** The card side a terminal needs: APDUs in, response out (a PurseCard, or a reader). */
export interface CardChannel {
  transmit(apdu: Uint8Array): ResponseApdu;
}

export class HubRequestError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** An answer whose X-Hub-Signature does not verify: not the hub's, so never acted on. */
export class ForgedAnswerError extends Error {}

/** The card refused a command (status word other than 9000). */
export class CardStatusError extends Error {
  readonly sw: number;
  constructor(command: string, sw: number) {
    super(`${command}: card answered ${hexOfSw(sw)}`);
    this.sw = sw;
  }
}

export interface TapResult {
  swipe: SwipeResponse;
  /** The settle the swipe asked for, committed with the card's transaction prove. */
  settled: CommitResponse | null;
  load: LoadResponse | null;
  /** The card wrote the load (its balance and serial moved). */
  written: boolean;
  committed: CommitResponse | null;
  died: DeathPoint | null;
}

export interface SentRequest {
  path: string;
  body: string;
  headers: Record<string, string>;
}

export interface TerminalOptions {
  hub_url: string;
  terminal_id: string;
  key_hex: string;
  /** The 6 bytes the card sees as terminal id (12 hex), as the hub registered it. */
  card_terminal_id: string;
  /** The first txn_seq to use; a terminal that restarts must continue above its last one. */
  txn_seq_start: number;
  /** Clock offset for tests of stale requests. */
  clock_skew_ms?: number;
  /** Keep every request sent (at most SENT_KEPT_MAX), for replay tests. */
  keep_sent?: boolean;
  request_timeout_ms?: number;
}

const SENT_KEPT_MAX = 1_000;
const ANSWER_BYTES_MAX = 64 * 1024;
// China Standard Time: what a campus terminal's clock shows and writes into the card.
const TERMINAL_CLOCK_OFFSET_MS = 8 * 3_600_000;

/** `YYYYMMDDhhmmss` in China time. */
export function terminalTimeOf(at_ms: number): string {
  return new Date(at_ms + TERMINAL_CLOCK_OFFSET_MS).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function expectOk(command: string, response: ResponseApdu): Buffer {
  if (response.sw !== SW_OK) throw new CardStatusError(command, response.sw);
  return response.data;
}

export class Terminal {
  readonly terminal_id: string;
  readonly card_terminal_id: string;
  readonly sent: SentRequest[] = [];
  readonly #url: URL;
  readonly #key: Buffer;
  readonly #skew_ms: number;
  readonly #keep_sent: boolean;
  readonly #timeout_ms: number;
  // One connection, kept alive across the three requests of a tap (and the next taps).
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
  txn_seq: number;

  constructor(options: TerminalOptions) {
    if (!/^[0-9a-fA-F]{64}$/.test(options.key_hex)) throw new Error('terminal key must be 64 hex characters');
    if (!/^[0-9A-F]{12}$/.test(options.card_terminal_id)) throw new Error('card_terminal_id must be 12 upper-case hex digits');
    this.terminal_id = options.terminal_id;
    this.card_terminal_id = options.card_terminal_id;
    this.#url = new URL(options.hub_url);
    this.#key = Buffer.from(options.key_hex, 'hex');
    this.#skew_ms = options.clock_skew_ms ?? 0;
    this.#keep_sent = options.keep_sent ?? false;
    this.#timeout_ms = options.request_timeout_ms ?? 10_000;
    this.txn_seq = options.txn_seq_start;
  }

  close(): void {
    this.#agent.destroy();
  }

  nextTxnSeq(): number {
    this.txn_seq += 1;
    return this.txn_seq;
  }

  /** Signed headers for a POST of `body` to `path`, exactly as the hub checks them. */
  sign(path: string, body: string, timestamp_ms = Date.now() + this.#skew_ms): Record<string, string> {
    const signature = createHmac('sha256', this.#key).update(terminalSigningString('POST', path, timestamp_ms, body)).digest('hex');
    return {
      'content-type': 'application/json',
      [TERMINAL_HEADER_ID]: this.terminal_id,
      [TERMINAL_HEADER_TIMESTAMP]: String(timestamp_ms),
      [TERMINAL_HEADER_SIGNATURE]: signature,
    };
  }

  /** POSTs and returns the answer once its signature verifies; a refusal throws HubRequestError. */
  async post<T>(path: string, body: string, headers = this.sign(path, body)): Promise<T> {
    if (this.#keep_sent && this.sent.length < SENT_KEPT_MAX) this.sent.push({ path, body, headers });
    const { status, text, hub_signature } = await this.#send(path, body, headers);
    const request_signature = headers[TERMINAL_HEADER_SIGNATURE] ?? '';
    this.#verifyAnswer(request_signature, status, text, hub_signature);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HubRequestError(status, 'not_json', text.slice(0, 200));
    }
    if (status !== 200) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new HubRequestError(status, error?.code ?? 'unknown', error?.message ?? text.slice(0, 200));
    }
    return parsed as T;
  }

  #verifyAnswer(request_signature: string, status: number, text: string, hub_signature: string | undefined): void {
    // Refusals before authentication (401, 413, ...) cannot be signed: the hub did not yet
    // know the key. An unsigned refusal is taken only as "not done", which moves no money;
    // anything the terminal would act on (a 200: an offer, a MAC2, a commit) must verify.
    if (hub_signature === undefined && status !== 200) return;
    const expected = createHmac('sha256', this.#key).update(hubAnswerSigningString(request_signature, status, text)).digest();
    const given = /^[0-9a-f]{64}$/.test(hub_signature ?? '') ? Buffer.from(hub_signature!, 'hex') : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ForgedAnswerError(`answer ${status} to ${request_signature.slice(0, 8)}… is not signed by the hub`);
    }
  }

  #send(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string; hub_signature: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: this.#url.hostname, port: this.#url.port, path, method: 'POST', agent: this.#agent, headers, timeout: this.#timeout_ms },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > ANSWER_BYTES_MAX) res.destroy(new Error('answer too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const signature = res.headers[HUB_ANSWER_HEADER_SIGNATURE.toLowerCase()];
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), hub_signature: Array.isArray(signature) ? undefined : signature });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`hub did not answer within ${this.#timeout_ms} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  // ---- the three requests --------------------------------------------------------------

  swipeBody(card_no: string, chip: { balance_fen: number; online_serial: number }): string {
    const state = { balance_fen: chip.balance_fen, online_serial: chip.online_serial };
    return JSON.stringify({ terminal_id: this.terminal_id, txn_seq: this.nextTxnSeq(), card_no, chip: state });
  }

  swipe(card_no: string, chip: { balance_fen: number; online_serial: number }): Promise<SwipeResponse> {
    return this.post<SwipeResponse>(POS_PATH_SWIPE, this.swipeBody(card_no, chip));
  }

  load(request: Omit<LoadRequest, 'terminal_id' | 'txn_seq'>): Promise<LoadResponse> {
    const body: LoadRequest = { terminal_id: this.terminal_id, txn_seq: this.nextTxnSeq(), ...request };
    return this.post<LoadResponse>(POS_PATH_LOADS, JSON.stringify(body));
  }

  commit(claim_id: string, tac: string, proof: 'tac' | 'prove' = 'tac'): Promise<CommitResponse> {
    const body = JSON.stringify({ terminal_id: this.terminal_id, txn_seq: this.nextTxnSeq(), tac, proof });
    return this.post<CommitResponse>(posCommitPath(claim_id), body);
  }

  // ---- the card -------------------------------------------------------------------------

  /** What the terminal reads before the swipe: the asn (file 0015), balance and online serial. */
  readCard(card: CardChannel): { asn: string; balance_fen: number; online_serial: number } {
    const { asn } = parsePublicInfo(expectOk('READ BINARY 0015', card.transmit(readPublicInfoApdu())));
    const balance = parseBalance(expectOk('GET BALANCE', card.transmit(getBalanceApdu({ with_online_serial: true }))));
    if (balance.online_serial === null) throw new Error('GET BALANCE answered no online serial');
    return { asn, balance_fen: balance.balance_fen, online_serial: balance.online_serial };
  }

  /**
   * One tap of a card: read it, swipe; settle an open reservation the card says was written
   * (GET TRANSACTION PROVE, commit with proof "prove"); then, if the hub offers a load,
   * INITIALIZE FOR LOAD → load (MAC2) → CREDIT FOR LOAD (TAC) → commit. `die` stops it at
   * that point, as a terminal losing power would.
   */
  async tap(card_no: string, card: CardChannel, die: DeathPoint = 'none'): Promise<TapResult> {
    const result: TapResult = { swipe: { card_status: 'unknown', pending_fen: 0, offer_fen: 0, settle: null }, settled: null, load: null, written: false, committed: null, died: null };
    const read = this.readCard(card);
    result.swipe = await this.swipe(card_no, { balance_fen: read.balance_fen, online_serial: read.online_serial });
    const settle = result.swipe.settle;
    if (settle !== null) {
      const answer = card.transmit(getTransactionProveApdu({ online_serial: settle.online_serial }));
      // A card whose record of that load is gone: the load below settles it by its serial.
      if (answer.sw !== SW_MAC_UNAVAILABLE) {
        const { tac } = parseProve(expectOk('GET TRANSACTION PROVE', answer));
        try {
          result.settled = await this.commit(settle.claim_id, tac, 'prove');
        } catch (error) {
          // The card's record at that serial is another load's (a hub store restored from a copy
          // can hold a reservation it had released): the load below settles it by the serial.
          if (!(error instanceof HubRequestError && error.code === 'tac_invalid')) throw error;
        }
      }
    }
    if (result.swipe.offer_fen === 0) return result;
    if (die === 'before_init') return { ...result, died: die };

    const init = parseInitForLoad(
      expectOk('INITIALIZE FOR LOAD', card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: result.swipe.offer_fen, card_terminal_id: this.card_terminal_id }))),
    );
    if (die === 'after_init') return { ...result, died: die };
    const terminal_time = terminalTimeOf(Date.now() + this.#skew_ms);
    result.load = await this.load({ card_no, asn: read.asn, amount_fen: result.swipe.offer_fen, init, terminal_time });
    if (die === 'after_mac2') return { ...result, died: die };

    if (die === 'credit_torn_unwritten' || die === 'credit_torn_written') {
      const tearable = card as CardChannel & { tearNextCredit?: (tear: 'before_write' | 'after_write') => void };
      if (tearable.tearNextCredit === undefined) throw new Error('this card cannot be torn');
      tearable.tearNextCredit(die === 'credit_torn_written' ? 'after_write' : 'before_write');
    }
    let tac: string;
    try {
      // A MAC2 the card refuses (9302) throws here: nothing is committed.
      tac = parseTac(expectOk('CREDIT FOR LOAD', card.transmit(creditForLoadApdu({ terminal_time, mac2: result.load.mac2 })))).tac;
    } catch (error) {
      if (error instanceof CardTornError) return { ...result, written: error.wrote, died: die };
      throw error;
    }
    result.written = true;
    if (die === 'after_credit') return { ...result, died: die };
    result.committed = await this.commit(result.load.claim_id, tac, 'tac');
    return result;
  }
}
