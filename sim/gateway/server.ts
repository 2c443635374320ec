// The simulated gateway's HTTP server: one Node http server on 127.0.0.1, composing the
// provider handlers [alipay, wechat, control]. Each request body is capped before any
// handler sees it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAlipaySim, type AlipaySim } from './alipay.ts';
import { createControlHandler } from './control.ts';
import { Notifier } from './notifier.ts';
import type { GatewayConfig, GatewayContext, GatewayHandler, GatewayRequest, GatewayResponse, Outage } from './types.ts';
import { createWechatHandler } from './wechat.ts';

// Requests to the gateway are small forms and JSON; anything bigger is refused unread.
export const REQUEST_BODY_BYTES_MAX = 64 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const EXPIRY_SWEEP_INTERVAL_MS = 1_000;

export interface RunningGateway {
  origin: string;
  port: number;
  notifier: Notifier;
  alipay: AlipaySim;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > REQUEST_BODY_BYTES_MAX) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > REQUEST_BODY_BYTES_MAX) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

export async function startGateway(options: {
  config: GatewayConfig;
  port: number;
  host?: string;
  /** One JSON line per notification attempt; the process logs them, in-process tests need not. */
  log?: (line: string) => void;
}): Promise<RunningGateway> {
  const host = options.host ?? '127.0.0.1';
  let origin = '';
  const log = options.log;
  const notifier = new Notifier(
    options.config.notify_retry_schedule_ms,
    log === undefined
      ? null
      : (delivery, attempt) =>
          log(
            JSON.stringify({
              msg: 'notification attempt',
              channel: delivery.notification.channel,
              out_trade_no: delivery.notification.out_trade_no,
              url: delivery.notification.url,
              attempt: delivery.attempts.length,
              status: attempt.status,
              acknowledged: attempt.acknowledged,
              response: attempt.response.slice(0, 80),
            }),
          ),
  );
  const ctx: GatewayContext = {
    config: options.config,
    notify: (notification) => notifier.enqueue(notification),
    origin: () => origin,
  };
  const alipay = createAlipaySim(ctx);
  const outage: Outage = { api_down: false };
  // The simulator's own routes under /sim/ stay up through an outage: the control API is how
  // it ends, and tests drive the simulated payers there.
  const unavailable: GatewayHandler = async (request) =>
    outage.api_down && !request.url.pathname.startsWith('/sim/')
      ? { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'service unavailable' }
      : null;
  const handlers: GatewayHandler[] = [unavailable, alipay.handler, createWechatHandler(ctx), createControlHandler({ alipay, notifier, outage })];

  const server: Server = createServer(async (req, res) => {
    let response: GatewayResponse;
    try {
      const body = await readBody(req);
      const request: GatewayRequest = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', origin),
        headers: flatHeaders(req),
        body,
      };
      response = { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'not found' };
      for (const handler of handlers) {
        const answer = await handler(request);
        if (answer !== null) {
          response = answer;
          break;
        }
      }
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        response = { status: 413, headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }, body: 'body too large' };
      } else {
        console.error(JSON.stringify({ level: 'error', msg: 'gateway handler failed', error: String((err as Error)?.stack ?? err) }));
        response = { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'gateway error' };
      }
    }
    res.writeHead(response.status, response.headers ?? {});
    res.end(response.body);
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${host}:${port}`;
  // Trades time out on Alipay's own clock, and their TRADE_CLOSED notice goes out even when
  // nobody asks about them.
  const sweeper = setInterval(() => {
    alipay.sweep(Date.now()).catch((err: unknown) => console.error(JSON.stringify({ level: 'error', msg: 'expiry sweep failed', error: String(err) })));
  }, EXPIRY_SWEEP_INTERVAL_MS);
  sweeper.unref();
  return {
    origin,
    port,
    notifier,
    alipay,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper);
        notifier.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
