// The POS API v2 (DESIGN section 6; hub/openapi.yaml): swipe, load, commit. Refusals of bad
// input are answered at once and change nothing. A swipe is read-only and answered from
// memory; a load's MAC2 and a commit's answer go through the group commit, so they are sent
// only after what they promise is on disk.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import {
  commitRequest,
  loadRequest,
  POS_BODY_BYTES_MAX,
  POS_COMMIT_PATH_PATTERN,
  POS_PATH_LOADS,
  POS_PATH_SWIPE,
  PURSE_BALANCE_FEN_MAX,
  swipeRequest,
} from '../../protocol/pos.ts';
import type { CardKeyStore } from '../keys/store.ts';
import type { HubLedger, Outcome } from '../ledger/index.ts';
import { HttpError, readBody } from '../http.ts';
import type { HubMetrics, PosRoute } from '../ops/metrics.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { authenticateTerminal, sendPos, sendPosError, type AuthenticatedTerminal } from './auth.ts';

export interface PosDeps {
  ledger: HubLedger;
  group: GroupCommit;
  keys: CardKeyStore;
  metrics: HubMetrics;
  now_ms: () => number;
}

function parse<T extends z.ZodType>(schema: T, body: Buffer): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new HttpError(400, 'invalid_body', issues.join('; '));
  }
  return parsed.data;
}

/** True when the path is a POS route (handled here, answered or refused). */
export function isPosPath(path: string): boolean {
  return path.startsWith('/pos/');
}

function routeOf(path: string): { route: PosRoute; claim_id: string } | null {
  if (path === POS_PATH_SWIPE) return { route: 'swipe', claim_id: '' };
  if (path === POS_PATH_LOADS) return { route: 'load', claim_id: '' };
  const match = POS_COMMIT_PATH_PATTERN.exec(path);
  return match === null ? null : { route: 'commit', claim_id: match[1]! };
}

function sameTerminal(body_terminal_id: string, terminal: AuthenticatedTerminal): void {
  if (body_terminal_id !== terminal.terminal_id) throw new HttpError(403, 'forbidden', 'terminal_id differs from the signing terminal');
}

/** A replay is refused before the key store (perhaps an HSM) spends a call on it. */
function fresh(deps: PosDeps, request: { terminal_id: string; txn_seq: number }): void {
  if (!deps.ledger.txnSeqFresh(request.terminal_id, request.txn_seq)) throw new HttpError(409, 'txn_seq_replayed', `txn_seq ${request.txn_seq} was already used`);
}

export async function handlePos(deps: PosDeps, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const started_ms = performance.now();
  const target = routeOf(path);
  let terminal: AuthenticatedTerminal | null = null;
  try {
    if (target === null) throw new HttpError(404, 'not_found', `no route ${req.method} ${path}`);
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${path} takes POST`);
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
    }
    const body = await readBody(req, POS_BODY_BYTES_MAX);
    terminal = authenticateTerminal(req, path, body, (id, reload) => deps.ledger.terminal(id, reload), deps.now_ms());
    let outcome: Outcome<unknown>;
    if (target.route === 'swipe') {
      const request = parse(swipeRequest, body);
      sameTerminal(request.terminal_id, terminal);
      const answer = deps.ledger.swipe(request);
      // Read-only: answered now; the txn_seq and the chip report are written in batches.
      if (answer.ok) deps.ledger.recordSwipe(request);
      outcome = answer;
      if (answer.ok) deps.metrics.count(deps.metrics.swipes, answer.value.settle !== null ? 'settle' : answer.value.offer_fen > 0 ? 'offer' : 'no_offer');
    } else if (target.route === 'load') {
      const request = parse(loadRequest, body);
      sameTerminal(request.terminal_id, terminal);
      if (request.init.balance_fen + request.amount_fen > PURSE_BALANCE_FEN_MAX) {
        throw new HttpError(400, 'amount_out_of_range', `balance ${request.init.balance_fen} + amount ${request.amount_fen} exceeds the purse's 4 bytes`);
      }
      fresh(deps, request);
      outcome = await deps.ledger.load(deps.keys, deps.group, request);
      deps.metrics.count(deps.metrics.loads, outcome.ok ? 'reserved' : outcome.code);
    } else {
      const request = parse(commitRequest, body);
      sameTerminal(request.terminal_id, terminal);
      fresh(deps, request);
      outcome = await deps.ledger.commit(deps.keys, deps.group, target.claim_id, request);
      deps.metrics.count(deps.metrics.commits, outcome.ok ? `committed_${request.proof}` : outcome.code);
    }
    if (!outcome.ok) throw new HttpError(outcome.status, outcome.code, outcome.message);
    sendPos(res, terminal, 200, outcome.value);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    deps.metrics.count(deps.metrics.refusals, error.code);
    sendPosError(res, terminal, error.status, error.code, error.message);
  } finally {
    if (target !== null) deps.metrics.latency[target.route].observe((performance.now() - started_ms) / 1000);
  }
}
