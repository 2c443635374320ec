// What a console request knows once its session is read (the operator and their schools), and
// what every console route takes from the request the same way.
import type { Context } from 'hono';
import type { Env } from '../env.ts';
import { clientRateKey } from '../http/rate-limit.ts';
import { notifySchoolHub } from '../hub/push.ts';

export interface ConsoleOperator {
  session_id: string;
  operator_id: string;
  display_name: string;
  school_ids: string[];
  csrf_token: string;
  method: 'password' | 'access';
  created_at_ms: number;
  last_seen_at_ms: number;
  expires_at_ms: number;
}

export type ConsoleEnv = { Bindings: Env; Variables: { operator: ConsoleOperator } };


/** The caller's address as the audit trail and the sign-in limit key it (IPv6: its /64). */
export function consoleAddress(c: Context<ConsoleEnv>): string {
  return clientRateKey(c.req.header('cf-connecting-ip'));
}

/** Tells the school's hub to pull once the answer is on its way (best effort, as everywhere). */
export function pokeHubAfterResponse(c: Context<ConsoleEnv>, school_id: string): void {
  const poke = notifySchoolHub(c.env, school_id);
  try {
    c.executionCtx.waitUntil(poke);
  } catch {
    // No execution context (the app called directly): the poke is already under way.
  }
}
