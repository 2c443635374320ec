// The POS API (DESIGN section 6; hub/openapi.yaml): swipe, commit, abort. Refusals of bad
// input are answered at once and change nothing; every answer that depends on state goes
// through the group commit, so it is sent only after what it promises is on disk.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { abortRequest, commitRequest, POS_BODY_BYTES_MAX, swipeRequest } from '../../protocol/pos.ts';
import type { Outcome, HubLedger } from '../ledger.ts';
import { HttpError, readBody, sendError, sendJson } from '../http.ts';
import type { HubMetrics, PosRoute } from '../ops/metrics.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { authenticateTerminal } from './auth.ts';

const CLAIM_PATH = /^\/pos\/v1\/claims\/([A-Za-z0-9_-]{1,64})\/(commit|abort)$/;

export interface PosDeps {
  ledger: HubLedger;
  group: GroupCommit;
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

export async function handlePos(deps: PosDeps, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const started_ms = performance.now();
  let route: PosRoute | null = null;
  let claim_id = '';
  if (path === '/pos/v1/swipe') route = 'swipe';
  else {
    const match = CLAIM_PATH.exec(path);
    if (match !== null) {
      claim_id = match[1]!;
      route = match[2] as PosRoute;
    }
  }
  try {
    if (route === null) throw new HttpError(404, 'not_found', `no route ${req.method} ${path}`);
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${path} takes POST`);
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
    }
    const body = await readBody(req, POS_BODY_BYTES_MAX);
    const terminal_id = authenticateTerminal(req, body, (id, reload) => deps.ledger.terminalKey(id, reload), deps.now_ms());
    let outcome: Outcome<unknown>;
    if (route === 'swipe') {
      const request = parse(swipeRequest, body);
      if (request.terminal_id !== terminal_id) throw new HttpError(403, 'forbidden', 'terminal_id differs from the signing terminal');
      outcome = await deps.group.run(() => deps.ledger.swipe(request));
      if (outcome.ok) {
        const load = (outcome.value as { load: unknown }).load;
        deps.metrics.count(deps.metrics.swipes, load === null ? 'no_load' : 'load');
      }
    } else if (route === 'commit') {
      const request = parse(commitRequest, body);
      if (request.terminal_id !== terminal_id) throw new HttpError(403, 'forbidden', 'terminal_id differs from the signing terminal');
      outcome = await deps.group.run(() => deps.ledger.commit(claim_id, terminal_id, request.chip));
      deps.metrics.count(deps.metrics.commits, outcome.ok ? 'committed' : outcome.code);
    } else {
      const request = parse(abortRequest, body);
      if (request.terminal_id !== terminal_id) throw new HttpError(403, 'forbidden', 'terminal_id differs from the signing terminal');
      outcome = await deps.group.run(() => deps.ledger.abort(claim_id, terminal_id));
      deps.metrics.count(deps.metrics.aborts, outcome.ok ? 'aborted' : outcome.code);
    }
    if (!outcome.ok) throw new HttpError(outcome.status, outcome.code, outcome.message);
    sendJson(res, 200, outcome.value);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    deps.metrics.count(deps.metrics.refusals, error.code);
    sendError(res, error.status, error.code, error.message);
  } finally {
    if (route !== null) deps.metrics.latency[route].observe((performance.now() - started_ms) / 1000);
  }
}
