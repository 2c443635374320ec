// The campus internet link between the hub and the Worker, as a TCP relay on 127.0.0.1 that
// a test can cut (every connection dropped, new ones refused) and restore.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class Link {
  readonly #target_port: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  #up = true;
  port = 0;

  constructor(target_port: number) {
    this.#target_port = target_port;
  }

  async open(): Promise<string> {
    this.#server = createServer((client) => {
      if (!this.#up) {
        client.destroy();
        return;
      }
      const upstream = connect(this.#target_port, '127.0.0.1');
      this.#sockets.add(client);
      this.#sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    this.port = address.port;
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.#up = false;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.#server === null ? resolve() : this.#server.close(() => resolve())));
  }
}
