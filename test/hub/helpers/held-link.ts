// The campus link as an HTTP relay on 127.0.0.1 that can hold back the next request of one
// route (a slow upstream for that route alone) until the test releases it. WebSocket upgrades
// (the push channel) pass through as raw byte streams. A network element, not a stand-in
// for any of our parts: the hub and the Worker on either side are the real ones.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

// A request body larger than any hub request is not relayed.
const BODY_BYTES_MAX = 1024 * 1024;

export class HeldLink {
  readonly #target_port: number;
  readonly #sockets = new Set<Socket>();
  #held: { send: () => void; waiting: boolean } | null = null;
  #hold: ((method: string, path: string) => boolean) | null = null;
  #server: Server | null = null;

  constructor(target_port: number) {
    this.#target_port = target_port;
  }

  /** Whether a request is held and its sender still waits for the answer (has not given up). */
  get held_waiting(): boolean {
    return this.#held?.waiting === true;
  }

  /** The next request for which `match` is true waits until release(). */
  holdNext(match: (method: string, path: string) => boolean): void {
    this.#hold = match;
  }

  /** Sends the held request on. */
  release(): void {
    this.#hold = null;
    const held = this.#held;
    this.#held = null;
    held?.send();
  }

  async open(): Promise<string> {
    const server = createServer((req, res) => this.#relay(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('upgrade', (req, client: Socket, head: Buffer) => {
      const upstream = connect(this.#target_port, '127.0.0.1');
      this.#sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return `http://127.0.0.1:${address.port}`;
  }

  #relay(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > BODY_BYTES_MAX) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const send = () => {
        const upstream = request(
          { host: '127.0.0.1', port: this.#target_port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (this.#hold !== null && this.#held === null && this.#hold(req.method ?? '', path)) {
        const held = { send, waiting: true };
        this.#hold = null;
        this.#held = held;
        res.on('close', () => (held.waiting = false));
      } else send();
    });
  }

  async close(): Promise<void> {
    this.#hold = null;
    this.#held = null;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => (this.#server === null ? resolve() : this.#server.close(() => resolve())));
  }
}
