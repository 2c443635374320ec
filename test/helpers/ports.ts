// "Unreachable" in tests (Node only): a port on 127.0.0.1 that this process bound and closed a
// moment ago. Nothing listens there, so a connection is refused at once; a fixed low port
// (127.0.0.1:1, :9) is only unreachable until something on the machine listens on it.
import { freePort } from '../../scripts/lib/processes.ts';

/** A port that was just bound and closed again: connecting to it is refused. */
export function closedPort(): Promise<number> {
  return freePort();
}

/** `http://127.0.0.1:PORT` with nothing listening. */
export async function unreachableOrigin(): Promise<string> {
  return `http://127.0.0.1:${await closedPort()}`;
}
