// One Durable Object per school holds its hubs' push WebSockets (DESIGN section 6). It is
// told "the school's feed has news" and tells every connected hub to pull now. It uses the
// WebSocket Hibernation API, so an idle campus costs nothing between payments; the hub keeps
// polling as the fallback, so a lost message only delays a credit, never loses it.
import { DurableObject } from 'cloudflare:workers';
import type { HubPushMessage } from '../../protocol/hub.ts';
import type { Env } from '../env.ts';
import { latestSeq } from './changes.ts';

// The Worker's own headers on the internal upgrade request; never taken from a client.
export const PUSH_HUB_ID_HEADER = 'x-yikatong-hub-id';
export const PUSH_SEQ_HEADER = 'x-yikatong-seq';
// A school has one hub, perhaps a standby; more sockets than this are stale reconnects.
const SOCKETS_PER_SCHOOL_MAX = 8;
// Hubs send nothing we act on; anything longer than a ping is noise and is not read.
const MESSAGE_LENGTH_MAX = 64;

export interface PokeRequest {
  school_id: string;
  /** The newest seq, when the caller knows it; otherwise the object reads it from D1. */
  seq: number | null;
}

interface SocketAttachment {
  hub_id: string;
  connected_at_ms: number;
}

export class SchoolHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Answered by the runtime without waking the object: a hub's keep-alive costs nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/poke' && request.method === 'POST') {
      const body = (await request.json()) as PokeRequest;
      const sent = await this.poke(body);
      return Response.json({ sent });
    }
    if (url.pathname === '/connect' && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
      return this.acceptHub(request);
    }
    return new Response('not found', { status: 404 });
  }

  private acceptHub(request: Request): Response {
    const hub_id = request.headers.get(PUSH_HUB_ID_HEADER) ?? '';
    const seq = Number(request.headers.get(PUSH_SEQ_HEADER) ?? '0');
    const sockets = this.ctx.getWebSockets();
    // Oldest first out: a hub that reconnects after a network change leaves its old socket
    // half-open, and the newest connection is the one that is alive.
    const excess = sockets.length - (SOCKETS_PER_SCHOOL_MAX - 1);
    if (excess > 0) {
      const by_age = sockets
        .map((ws) => ({ ws, at: (ws.deserializeAttachment() as SocketAttachment | null)?.connected_at_ms ?? 0 }))
        .sort((a, b) => a.at - b.at);
      for (const { ws } of by_age.slice(0, excess)) {
        try {
          ws.close(1008, 'too many connections');
        } catch {
          // Already closing.
        }
      }
    }
    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    this.ctx.acceptWebSocket(server, [hub_id]);
    const attachment: SocketAttachment = { hub_id, connected_at_ms: Date.now() };
    server.serializeAttachment(attachment);
    // Whatever happened while the hub was away, it learns at once where the feed stands.
    const hello: HubPushMessage = { type: 'changes', seq: Number.isSafeInteger(seq) ? seq : 0 };
    server.send(JSON.stringify(hello));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Tells every connected hub to pull; returns how many sockets were told. */
  async poke(request: PokeRequest): Promise<number> {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return 0;
    // From the primary, never a read replica: a hub skips a push whose seq it already has, so a
    // lagging seq would leave the new credit to the poll (bench/claimable.ts names such samples).
    const seq = request.seq ?? (await latestSeq(this.env.DB, request.school_id));
    const message: HubPushMessage = { type: 'changes', seq };
    const text = JSON.stringify(message);
    let sent = 0;
    for (const ws of sockets) {
      try {
        ws.send(text);
        sent += 1;
      } catch {
        // A socket closing under us; its hub reconnects and pulls anyway.
      }
    }
    return sent;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // "ping" is answered by the auto-response; a text ping that reaches us gets the same.
    if (typeof message === 'string' && message.length <= MESSAGE_LENGTH_MAX && message.trim() === 'ping') ws.send('pong');
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, _was_clean: boolean): Promise<void> {
    try {
      // 1005/1006 are reserved for "no code" and may not be sent back.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason.slice(0, 120));
    } catch {
      // The runtime already completed the close handshake.
    }
  }

  override async webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    try {
      ws.close(1011, 'error');
    } catch {
      // Already gone.
    }
  }
}
