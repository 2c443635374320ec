// Structured logs: one JSON object per line on stdout (errors on stderr), for journald.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(options: { quiet_below: LogLevel }): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, msg, fields = {}) {
      if (order[level] < order[options.quiet_below]) return;
      const line = `${JSON.stringify({ level, msg, at_ms: Date.now(), ...fields })}\n`;
      (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(line);
    },
  };
}
