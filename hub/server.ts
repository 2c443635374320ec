// Listens for POS terminals (HTTP/1.1 keep-alive) and ops scrapers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HubApp } from './app.ts';

// Terminals keep one connection open between swipes; idle ones are closed after this.
const KEEP_ALIVE_TIMEOUT_MS = 60_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const CONNECTIONS_MAX = 4_096;

export function listen(app: HubApp, host: string, port: number): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer(
    { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, noDelay: true },
    (req, res) => app.handle(req, res),
  );
  server.maxConnections = CONNECTIONS_MAX;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ server, address: server.address() as AddressInfo });
    });
  });
}
