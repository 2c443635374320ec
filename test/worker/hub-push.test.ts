// The push channel (DESIGN section 6): a hub holds a WebSocket to its school's Durable Object,
// signed like every hub request, and is told to pull when a change for it is written.
import { SELF, env, evictDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { HUB_PUSH_PATH, type HubPushMessage } from '../../protocol/hub.ts';
import { notifySchoolHub } from '../../worker/hub/push.ts';
import { ORIGIN, createSchool, generateHubKey, paidTopup, registerHub, signedHeaders, syncFeed, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';
import { alipayTopUp, gatewayNotification, openCashier, payAtGateway, postNotification } from './helpers/gateway.ts';
import { until } from '../helpers/wait.ts';

const MESSAGE_WAIT_MS = 3_000;

/** Opens the push socket as a hub does and collects what arrives. */
async function connect(hub: TestHub, options: { signing_key?: CryptoKey } = {}): Promise<{ response: Response; ws: WebSocket | null; messages: HubPushMessage[] }> {
  const headers = await signedHeaders(hub, 'GET', HUB_PUSH_PATH, '', options);
  const response = await SELF.fetch(`${ORIGIN}${HUB_PUSH_PATH}`, { headers: { ...headers, upgrade: 'websocket' } });
  const messages: HubPushMessage[] = [];
  const ws = response.webSocket;
  if (ws !== null) {
    ws.accept();
    ws.addEventListener('message', (event) => {
      if (typeof event.data === 'string' && event.data.startsWith('{')) messages.push(JSON.parse(event.data) as HubPushMessage);
    });
  }
  return { response, ws, messages };
}

/** Waits, bounded, until `predicate` holds for the messages received so far. */
async function waitFor(messages: HubPushMessage[], predicate: (m: HubPushMessage[]) => boolean): Promise<void> {
  await until(() => `push message (got ${JSON.stringify(messages)})`, () => predicate(messages), { timeout_ms: MESSAGE_WAIT_MS, interval_ms: 20 });
}

async function latestSeq(school_id: string): Promise<number> {
  return (await env.DB.prepare('SELECT MAX(seq) AS seq FROM changes WHERE school_id = ?').bind(school_id).first<{ seq: number }>())!.seq;
}

describe('GET /api/v1/hub/push', () => {
  let school_id: string;
  let hub: TestHub;

  beforeAll(async () => {
    school_id = await createSchool('push', ['P1']);
    hub = await registerHub(school_id);
  });

  it('tells a connected hub where the feed stands, then about each new credit', async () => {
    const { response, ws, messages } = await connect(hub);
    expect(response.status).toBe(101);
    await waitFor(messages, (m) => m.length >= 1);
    expect(messages[0]).toEqual({ type: 'changes', seq: await latestSeq(school_id) });

    // The money path writes the credit; the code that wrote it pokes the school's object.
    await paidTopup(school_id, 'P1', 1_000);
    const seq = await latestSeq(school_id);
    await notifySchoolHub(env, school_id);
    await waitFor(messages, (m) => m.some((message) => message.seq === seq));
    expect(messages.at(-1)).toEqual({ type: 'changes', seq });
    ws!.close(1000, 'done');
  });

  it('is told of a credit minted by a real Alipay notification, with no call of its own', async () => {
    const { order_id, pay_url } = await alipayTopUp(1_200);
    const order = await env.DB.prepare('SELECT school_id FROM orders WHERE id = ?').bind(order_id).first<{ school_id: string }>();
    const payingHub = await registerHub(order!.school_id);
    const { ws, messages } = await connect(payingHub);
    await waitFor(messages, (m) => m.length >= 1);
    await openCashier(pay_url);
    await payAtGateway(order_id);
    const notification = await gatewayNotification(order_id);
    expect(await (await postNotification(notification.body)).text()).toBe('success');
    const seq = await latestSeq(order!.school_id);
    await waitFor(messages, (m) => m.some((message) => message.seq === seq));
    ws!.close(1000, 'done');
  });

  it('keeps the socket across hibernation: the object wakes for the poke and still reaches the hub', async () => {
    const { ws, messages } = await connect(hub);
    await waitFor(messages, (m) => m.length >= 1);
    const stub = env.SCHOOL_HUB!.get(env.SCHOOL_HUB!.idFromName(school_id));
    await evictDurableObject(stub, { webSockets: 'hibernate' });
    await paidTopup(school_id, 'P1', 400);
    const seq = await latestSeq(school_id);
    await notifySchoolHub(env, school_id);
    await waitFor(messages, (m) => m.some((message) => message.seq === seq));
    // The object that woke read the feed's head from D1 itself: the poke carried no seq.
    expect(messages.at(-1)).toEqual({ type: 'changes', seq });
    ws!.close(1000, 'done');
  });

  it('pushes when a refund asks the hub to void a credit', async () => {
    const { ws, messages } = await connect(hub);
    await waitFor(messages, (m) => m.length >= 1);
    const credit = await paidTopup(school_id, 'P1', 700);
    // The hub has pulled the credit (it owns it now), so the refund must go through it.
    await syncFeed(hub);
    const refund = await SELF.fetch(`${ORIGIN}/api/v1/admin/orders/${credit.order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH });
    expect(refund.status).toBe(202);
    const seq = await latestSeq(school_id);
    await waitFor(messages, (m) => m.some((message) => message.seq === seq));
    ws!.close(1000, 'done');
  });

  it('reaches every hub connected for the school, and only that school', async () => {
    const standby = await registerHub(school_id);
    const other = await registerHub(await createSchool('pushx', ['Q1']));
    const a = await connect(hub);
    const b = await connect(standby);
    const c = await connect(other);
    for (const conn of [a, b, c]) await waitFor(conn.messages, (m) => m.length >= 1);
    await paidTopup(school_id, 'P1', 300);
    const seq = await latestSeq(school_id);
    await notifySchoolHub(env, school_id, seq);
    await waitFor(a.messages, (m) => m.some((message) => message.seq === seq));
    await waitFor(b.messages, (m) => m.some((message) => message.seq === seq));
    // The other school is poked after this one, with a marker seq: once its hub has the marker,
    // a stray message about this school, sent before it, would have arrived.
    const marker_seq = seq + 1_000_000;
    await notifySchoolHub(env, other.school_id, marker_seq);
    await waitFor(c.messages, (m) => m.some((message) => message.seq === marker_seq));
    expect(c.messages.slice(1)).toEqual([{ type: 'changes', seq: marker_seq }]);
    for (const conn of [a, b, c]) conn.ws!.close(1000, 'done');
  });

  it('keeps at most 8 sockets per school, closing the oldest first', async () => {
    const school = await createSchool('pushmax', ['R1']);
    const reconnecting = await registerHub(school);
    const closed: number[] = [];
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 10; i++) {
      const conn = await connect(reconnecting);
      expect(conn.response.status).toBe(101);
      await waitFor(conn.messages, (m) => m.length >= 1);
      conn.ws!.addEventListener('close', () => closed.push(i));
      sockets.push(conn.ws!);
    }
    await until('the two oldest sockets closed', () => closed.length >= 2, { timeout_ms: MESSAGE_WAIT_MS, interval_ms: 20 });
    expect(closed.sort((a, b) => a - b)).toEqual([0, 1]);
    for (const ws of sockets) ws.close(1000, 'done');
  });

  it('refuses an unsigned or forged upgrade and a plain GET', async () => {
    const unsigned = await SELF.fetch(`${ORIGIN}${HUB_PUSH_PATH}`, { headers: { upgrade: 'websocket' } });
    expect(unsigned.status).toBe(401);
    expect(unsigned.webSocket).toBeNull();
    const forger = await generateHubKey();
    const forged = await connect(hub, { signing_key: forger.private_key });
    expect(forged.response.status).toBe(401);
    expect(forged.ws).toBeNull();

    const plain = await SELF.fetch(`${ORIGIN}${HUB_PUSH_PATH}`, { headers: await signedHeaders(hub, 'GET', HUB_PUSH_PATH, '') });
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ error: { code: 'upgrade_required' } });
  });

  it('never fails the caller when the school has no hub connected or push is not configured', async () => {
    await expect(notifySchoolHub(env, 'school-without-hub')).resolves.toBeUndefined();
    await expect(notifySchoolHub({ ...env, SCHOOL_HUB: undefined }, school_id)).resolves.toBeUndefined();
  });
});
