// Child processes for `npm start` and the tests that run real processes (gateway, wrangler dev,
// hub, PWA preview): start one, wait until it says it is ready, keep the tail of its output for
// error messages, and stop it by its pid.
//
// Every child is the leader of its own process group (`detached`), so stopping it reaches the
// processes it started itself (wrangler dev runs workerd): SIGTERM to the group first, SIGKILL
// after a bound. Nothing here kills by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** How much of a child's output is kept for error messages (the tail). */
export const OUTPUT_KEPT_BYTES_MAX = 64 * 1024;
export const READY_TIMEOUT_MS_DEFAULT = 60_000;
export const STOP_GRACE_MS_DEFAULT = 5_000;

export interface ServiceOptions {
  /** Short name for messages: "gateway", "worker". */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Matched against each line of stdout and stderr; the first match means ready. */
  ready: RegExp;
  ready_timeout_ms?: number;
  /** Also copy the child's output here as it arrives (npm start shows it; tests do not). */
  echo?: (line: string) => void;
}

export interface Service {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The ready line's match: capture groups carry the URL or port the child printed. */
  readonly ready_match: RegExpMatchArray;
  /** The tail of everything the child printed, stdout and stderr interleaved. */
  output(): string;
  /** Resolves when the child has exited (at once if it already has). */
  exited(): Promise<void>;
  /** SIGTERM to the child's process group, SIGKILL after grace_ms; resolves once it exited. */
  stop(grace_ms?: number): Promise<void>;
}

// Children run in their own process groups, so nothing reaps them when this process ends.
// Whatever is still running when it exits (a test run ending early, an uncaught error) is
// killed here, synchronously, as 'exit' handlers must be.
const live_groups = new Set<number>();
process.on('exit', () => {
  for (const pid of live_groups) signalGroup(pid, 'SIGKILL');
});

class OutputTail {
  private text = '';

  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > OUTPUT_KEPT_BYTES_MAX) this.text = this.text.slice(-OUTPUT_KEPT_BYTES_MAX);
  }

  toString(): string {
    return this.text;
  }
}

/** Starts a child and resolves once it printed a line matching `ready`; rejects (and stops it) otherwise. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const ready_timeout_ms = options.ready_timeout_ms ?? READY_TIMEOUT_MS_DEFAULT;
  if (!(ready_timeout_ms > 0)) throw new RangeError(`ready_timeout_ms must be positive: ${ready_timeout_ms}`);
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail = new OutputTail();
  let exit_status: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit_status = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
    child.once('error', (error) => {
      exit_status = `spawn error: ${error.message}`;
      tail.append(`${error.message}\n`);
      resolve();
    });
  });

  let resolveReady: (match: RegExpMatchArray) => void = () => {};
  const readyLine = new Promise<RegExpMatchArray>((resolve) => (resolveReady = resolve));
  const watch = (stream: NodeJS.ReadableStream | null) => {
    if (stream === null) return;
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (chunk: string) => {
      tail.append(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      // A child that never prints a newline must not grow this buffer without bound.
      if (partial.length > OUTPUT_KEPT_BYTES_MAX) partial = partial.slice(-OUTPUT_KEPT_BYTES_MAX);
      for (const line of lines) {
        options.echo?.(line);
        // Wrangler colours its output; the ready pattern is written against plain text.
        const match = stripAnsi(line).match(options.ready);
        if (match !== null) resolveReady(match);
      }
    });
  };
  watch(child.stdout);
  watch(child.stderr);

  const pid = child.pid;
  if (pid !== undefined) {
    live_groups.add(pid);
    void exited.then(() => {
      // The leader is gone; its group may not be, so stop() still signals it by pid.
      if (!groupAlive(pid)) live_groups.delete(pid);
    });
  }
  const stop = (grace_ms = STOP_GRACE_MS_DEFAULT) => stopGroup(child, exited, grace_ms);

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ready_timeout_ms);
  });
  const outcome = await Promise.race([readyLine, exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout' || outcome === 'exited' || pid === undefined) {
    await stop();
    const why = outcome === 'timeout' ? `not ready within ${ready_timeout_ms} ms` : `exited (${exit_status}) before it was ready`;
    throw new Error(`${options.name} ${why}; its output:\n${tail.toString()}`);
  }
  return {
    name: options.name,
    pid,
    child,
    ready_match: outcome,
    output: () => tail.toString(),
    exited: () => exited,
    stop,
  };
}

async function stopGroup(child: ChildProcess, exited: Promise<void>, grace_ms: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  signalGroup(pid, 'SIGTERM');
  // The leader may exit before the processes it is stopping (npm before the script it runs):
  // wait for the whole group, not just the leader, then SIGKILL whatever is left of it.
  const deadline_ms = Date.now() + grace_ms;
  while (Date.now() < deadline_ms && groupAlive(pid)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  signalGroup(pid, 'SIGKILL');
  await exited;
  live_groups.delete(pid);
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals a process group by its leader's pid; a group that is already gone is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (!(pid > 0)) throw new RangeError(`not a pid: ${pid}`);
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for children that cannot take port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address from the OS');
  return address.port;
}

/** Whether something is listening on 127.0.0.1:port. */
export async function portInUse(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

export interface CommandResult {
  /** The exit code, or null when a signal ended it (a timeout ends it with SIGKILL). */
  code: number | null;
  signal: string | null;
  timed_out: boolean;
  stdout: string;
  /** The tail of stderr. */
  stderr: string;
  /** The tail of stdout and stderr interleaved, for messages. */
  output: string;
}

// Query results can be large, but not unbounded: 64 MiB is far beyond any audit answer.
const COMMAND_STDOUT_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Runs a command to completion in its own process group and reports how it ended, whatever
 * that was. The group is killed once the command is over (or has outlived timeout_ms), so
 * nothing it started outlives the call: tests that expect a command to fail use this.
 */
export async function runToExit(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout_ms: number; input?: string },
): Promise<CommandResult> {
  if (!(options.timeout_ms > 0)) throw new RangeError(`timeout_ms must be positive: ${options.timeout_ms}`);
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid !== undefined) live_groups.add(child.pid);
  try {
    const stdout: string[] = [];
    let stdout_length = 0;
    const tail = new OutputTail();
    const stderr = new OutputTail();
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout_length += chunk.length;
      if (stdout_length <= COMMAND_STDOUT_BYTES_MAX) stdout.push(chunk);
      tail.append(chunk);
    });
    child.stderr?.on('data', (chunk: string) => {
      tail.append(chunk);
      stderr.append(chunk);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const outcome = await new Promise<{ code: number | null; signal: string | null; timed_out: boolean }>((resolve) => {
      const timer = setTimeout(() => {
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        resolve({ code: null, signal: 'SIGKILL', timed_out: true });
      }, options.timeout_ms);
      child.once('error', (error) => {
        clearTimeout(timer);
        tail.append(error.message);
        stderr.append(error.message);
        resolve({ code: null, signal: null, timed_out: false });
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timed_out: false });
      });
    });
    return { ...outcome, stdout: stdout.join(''), stderr: stderr.toString(), output: tail.toString() };
  } finally {
    if (child.pid !== undefined) {
      // A command that left children behind in its group does not get to keep them.
      signalGroup(child.pid, 'SIGKILL');
      live_groups.delete(child.pid);
    }
  }
}

/**
 * Runs a command to completion and returns its stdout; rejects with its output when it exits
 * non-zero or outlives timeout_ms (then its process group is killed).
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout_ms: number; input?: string },
): Promise<string> {
  const result = await runToExit(command, args, options);
  if (result.code !== 0) {
    const why = result.timed_out ? `timed out after ${options.timeout_ms} ms` : `failed (${result.code ?? result.signal})`;
    // The command line can carry a page of SQL: its head is enough to say which call failed.
    const command_line = `${command} ${args.join(' ')}`;
    const shown = command_line.length > 300 ? `${command_line.slice(0, 300)}…` : command_line;
    throw new Error(`${shown} ${why}:\n${result.output}`);
  }
  return result.stdout;
}

/** Polls `url` until it answers with a status below 500, or throws after timeout_ms. */
export async function waitForHttp(url: string, timeout_ms: number): Promise<void> {
  const deadline_ms = Date.now() + timeout_ms;
  let last_error = 'no attempt';
  // Bounded by the deadline; 100 ms between attempts keeps it cheap.
  while (Date.now() < deadline_ms) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(100, deadline_ms - Date.now())) });
      await response.body?.cancel();
      if (response.status < 500) return;
      last_error = `status ${response.status}`;
    } catch (error) {
      last_error = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} not answering within ${timeout_ms} ms: ${last_error}`);
}

// ESC [ ... final byte: the colour and cursor sequences wrangler prints.
const ANSI_PATTERN = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI_PATTERN, '');
}
