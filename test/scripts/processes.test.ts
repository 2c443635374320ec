// The process helpers every real-process test and `npm start` rely on: ready detection,
// output kept for errors, and stopping a whole process tree by its leader's pid.
import { describe, expect, it } from 'vitest';
import { sqlLiteral } from '../../scripts/lib/local-d1.ts';
import { cardsCsv } from '../../scripts/seed.ts';
import { upsertDevVars } from '../../scripts/start.ts';
import { freePort, portInUse, runCommand, runToExit, signalGroup, startService, stripAnsi } from '../../scripts/lib/processes.ts';
import { until } from '../helpers/wait.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; fails the test if it outlives the bound. */
function gone(what: string, pid: number): Promise<true> {
  return until(`${what} (pid ${pid}) gone`, () => !alive(pid), { timeout_ms: 5_000 });
}

describe('startService', () => {
  it('resolves on the ready line with its captures, and stop ends the child and what it started', async () => {
    // The child starts a grandchild (as wrangler starts workerd), prints its pid, then is ready.
    const service = await startService({
      name: 'tree',
      command: 'sh',
      args: ['-c', 'sleep 300 & echo "grandchild $!"; printf "\\033[32mready on http://127.0.0.1:4321\\033[0m\\n"; wait'],
      ready: /ready on (http:\/\/\S+)/,
      ready_timeout_ms: 10_000,
    });
    let grandchild = 0;
    try {
      expect(service.ready_match[1]).toBe('http://127.0.0.1:4321');
      grandchild = Number(/grandchild (\d+)/.exec(service.output())?.[1]);
      expect(alive(grandchild)).toBe(true);
    } finally {
      await service.stop(2_000);
    }
    expect(alive(service.pid)).toBe(false);
    expect(await gone('grandchild', grandchild)).toBe(true);
  });

  it('kills a child that ignores SIGTERM once the grace period is over', async () => {
    const service = await startService({
      name: 'stubborn',
      command: 'sh',
      args: ['-c', "trap '' TERM; echo up; while true; do sleep 1; done"],
      ready: /^up$/,
      ready_timeout_ms: 10_000,
    });
    let stopped_after_ms = 0;
    try {
      const started_ms = Date.now();
      await service.stop(300);
      stopped_after_ms = Date.now() - started_ms;
    } finally {
      // Whatever the first stop did, the group does not outlive the test.
      if (alive(service.pid)) signalGroup(service.pid, 'SIGKILL');
    }
    expect(stopped_after_ms).toBeGreaterThanOrEqual(300);
    expect(alive(service.pid)).toBe(false);
  });

  it('rejects with the output when the child exits before it is ready', async () => {
    await expect(
      startService({ name: 'early', command: 'sh', args: ['-c', 'echo "config broken: port 1"; exit 3'], ready: /ready/, ready_timeout_ms: 10_000 }),
    ).rejects.toThrow(/early exited \(exit code 3\) before it was ready; its output:\nconfig broken: port 1/);
  });

  it('rejects, and stops the child, when no ready line comes in time', async () => {
    let pid = 0;
    const error = await startService({
      name: 'silent',
      command: 'sh',
      args: ['-c', 'echo "pid $$"; sleep 300'],
      ready: /ready/,
      ready_timeout_ms: 500,
    }).catch((err: unknown) => err as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/silent not ready within 500 ms/);
    pid = Number(/pid (\d+)/.exec((error as Error).message)?.[1]);
    try {
      expect(pid).toBeGreaterThan(0);
      expect(await gone('the silent child', pid)).toBe(true);
    } finally {
      if (pid > 0 && alive(pid)) signalGroup(pid, 'SIGKILL');
    }
  });
});

describe('a process that exits without stopping its services', () => {
  it('takes them with it', async () => {
    // A host that forgets to stop its child (a test run cut short, an uncaught error).
    const host = `
      import { startService } from ${JSON.stringify(new URL('../../scripts/lib/processes.ts', import.meta.url).pathname)};
      const service = await startService({ name: 'orphan', command: 'sh', args: ['-c', 'echo up; sleep 300'], ready: /up/ });
      console.log('child ' + service.pid);
      process.exit(0);
    `;
    const output = await runCommand(process.execPath, ['--input-type=module', '-e', host], { timeout_ms: 20_000 });
    const pid = Number(/child (\d+)/.exec(output)?.[1]);
    try {
      expect(pid).toBeGreaterThan(0);
      expect(await gone('the orphan', pid)).toBe(true);
    } finally {
      // Had the host's exit handler failed, the orphan would otherwise sleep on for minutes.
      if (pid > 0 && alive(pid)) signalGroup(pid, 'SIGKILL');
    }
  });
});

describe('runCommand', () => {
  it('returns stdout, and on failure says which command failed with its output', async () => {
    expect(await runCommand('sh', ['-c', 'echo hello'], { timeout_ms: 10_000 })).toBe('hello\n');
    await expect(runCommand('sh', ['-c', 'echo oops >&2; exit 4'], { timeout_ms: 10_000 })).rejects.toThrow(/failed \(4\):\noops/);
    await expect(runCommand('sh', ['-c', 'sleep 300'], { timeout_ms: 300 })).rejects.toThrow(/timed out after 300 ms/);
  });
});

describe('runToExit', () => {
  it('reports the exit code and stderr of a failing command, and kills what it left running', async () => {
    const result = await runToExit('sh', ['-c', 'sleep 300 >/dev/null 2>&1 & echo "left $!"; echo "broken" >&2; exit 3'], { timeout_ms: 10_000 });
    const left = Number(/left (\d+)/.exec(result.stdout)?.[1]);
    try {
      expect(result).toMatchObject({ code: 3, signal: null, timed_out: false, stderr: 'broken\n' });
      expect(left).toBeGreaterThan(0);
      expect(await gone('the background sleep', left)).toBe(true);
    } finally {
      if (left > 0 && alive(left)) process.kill(left, 'SIGKILL');
    }
    expect(await runToExit('sh', ['-c', 'sleep 300'], { timeout_ms: 300 })).toMatchObject({ code: null, timed_out: true });
  });
});

describe('ports', () => {
  it('freePort gives a port nobody listens on, and portInUse sees a listener', async () => {
    const port = await freePort();
    expect(await portInUse(port)).toBe(false);
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    try {
      expect(await portInUse(port)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('helpers of npm start', () => {
  it('upsertDevVars replaces its own lines, appends missing ones and keeps what a person added', () => {
    const existing = '# my notes\nALIPAY_GATEWAY="http://127.0.0.1:1/gateway.do"\nMY_FLAG="1"\n';
    const updated = upsertDevVars(existing, { ALIPAY_GATEWAY: 'http://127.0.0.1:2/gateway.do', ADMIN_TOKEN: 'abc' });
    expect(updated).toBe('# my notes\nALIPAY_GATEWAY="http://127.0.0.1:2/gateway.do"\nMY_FLAG="1"\nADMIN_TOKEN="abc"\n');
    expect(upsertDevVars('', { A: 'x' })).toBe('A="x"\n');
  });

  it('cardsCsv writes the registry file the import reads, quoting what needs quoting', () => {
    expect(
      cardsCsv([
        { school_id: 's', card_no: '1', holder_name: '张三', kind: 'student', status: 'active', asn: '0100000000000001' },
        { school_id: 's', card_no: '2', holder_name: 'Li, "Lei"', kind: 'staff', status: 'lost', asn: '0100000000000002' },
      ]),
    ).toBe('card_no,name,kind,status,asn\n1,张三,student,active,0100000000000001\n2,"Li, ""Lei""",staff,lost,0100000000000002\n');
  });

  it('sqlLiteral quotes strings and refuses what is not a safe integer', () => {
    expect(sqlLiteral("O'Brien")).toBe("'O''Brien'");
    expect(sqlLiteral(42)).toBe('42');
    expect(sqlLiteral(null)).toBe('NULL');
    expect(() => sqlLiteral(1.5)).toThrow(RangeError);
  });

  it('stripAnsi leaves the text wrangler coloured', () => {
    expect(stripAnsi('\u001b[32m[wrangler:info]\u001b[0m Ready on http://127.0.0.1:8787')).toBe('[wrangler:info] Ready on http://127.0.0.1:8787');
  });
});
