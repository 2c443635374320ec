// The hub's refusal of a request the terminal simulator made: its status and error code.
import { HubRequestError } from '../../../sim/pos/terminal.ts';

/** Resolves with the refusal; throws when the request succeeded or failed otherwise. */
export async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HubRequestError) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error('expected a refusal');
}
