// Hub registration and the signature check every hub request passes (DESIGN section 6).
import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { HUB_CLOCK_SKEW_MS_MAX, HUB_HEADER_NONCE, type ChangesResponse } from '../../protocol/hub.ts';
import { HUB_BODY_BYTES_MAX } from '../../worker/hub/auth.ts';
import {
  ORIGIN,
  createSchool,
  generateHubKey,
  hubFetch,
  newNonce,
  putHub,
  registerHub,
  signedHeaders,
  type TestHub,
} from './helpers/hub.ts';

async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string } };
  return body.error?.code ?? `no error body (${response.status})`;
}

describe('hub registration (admin)', () => {
  let school_id: string;
  beforeAll(async () => {
    school_id = await createSchool('hubreg', ['A1']);
  });

  it('registers a hub once, rotates its key, and refuses moving it to another school', async () => {
    const key = await generateHubKey();
    const first = await putHub('hub-reg-1', { school_id, public_key: key.public_key });
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ hub_id: 'hub-reg-1', school_id, public_key: key.public_key, last_cursor: null });

    const rotated = await generateHubKey();
    const again = await putHub('hub-reg-1', { school_id, public_key: rotated.public_key });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ public_key: rotated.public_key });

    const other_school = await createSchool('hubreg2', []);
    const moved = await putHub('hub-reg-1', { school_id: other_school, public_key: rotated.public_key });
    expect(moved.status).toBe(409);
    const row = await env.DB.prepare('SELECT school_id, public_key FROM hubs WHERE id = ?').bind('hub-reg-1').first();
    expect(row).toEqual({ school_id, public_key: rotated.public_key });
  });

  it('refuses a public key that another hub already holds, for a new hub and for a rotation', async () => {
    const holder = await registerHub(school_id);
    const taken = await putHub('hub-reg-copy', { school_id, public_key: holder.public_key });
    expect(taken.status).toBe(409);
    expect(await errorCode(taken)).toBe('public_key_in_use');
    expect(await env.DB.prepare('SELECT id FROM hubs WHERE id = ?').bind('hub-reg-copy').first()).toBeNull();

    const other = await registerHub(school_id);
    const rotation = await putHub(other.hub_id, { school_id, public_key: holder.public_key });
    expect(rotation.status).toBe(409);
    expect(await errorCode(rotation)).toBe('public_key_in_use');
    const row = await env.DB.prepare('SELECT public_key FROM hubs WHERE id = ?').bind(other.hub_id).first();
    expect(row).toEqual({ public_key: other.public_key });
    // Re-registering a hub with its own key is still a harmless no-op.
    expect((await putHub(holder.hub_id, { school_id, public_key: holder.public_key })).status).toBe(200);
  });

  it('accepts only the new key once a hub’s key is rotated', async () => {
    const hub = await registerHub(school_id);
    const path = '/api/v1/hub/changes?after=0&limit=1';
    expect((await hubFetch(hub, 'GET', path)).status).toBe(200);
    const next = await generateHubKey();
    expect((await putHub(hub.hub_id, { school_id, public_key: next.public_key })).status).toBe(200);
    const old_key = await hubFetch(hub, 'GET', path);
    expect(old_key.status).toBe(401);
    expect(await errorCode(old_key)).toBe('signature_invalid');
    expect((await hubFetch({ ...hub, ...next }, 'GET', path)).status).toBe(200);
  });

  it('refuses bad input and unauthenticated callers, changing nothing', async () => {
    const key = await generateHubKey();
    const cases: [string, unknown, Record<string, string> | undefined, number, string][] = [
      ['hub-bad-1', { school_id, public_key: 'bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIHRleHQgaGVyZQ==' }, undefined, 400, 'invalid_body'],
      ['hub-bad-2', { school_id: 'no-such-school', public_key: key.public_key }, undefined, 404, 'school_not_found'],
      ['hub-bad-3', { school_id }, undefined, 400, 'invalid_body'],
      ['hub-bad-4', '{not json', undefined, 400, 'invalid_json'],
      ['Hub_Bad', { school_id, public_key: key.public_key }, undefined, 400, 'invalid_body'],
      ['hub-bad-5', { school_id, public_key: key.public_key }, {}, 401, 'unauthorized'],
      ['hub-bad-6', { school_id, public_key: key.public_key }, { authorization: 'Bearer wrong-token-wrong-token' }, 401, 'unauthorized'],
    ];
    for (const [hub_id, body, headers, status, code] of cases) {
      const response = await putHub(hub_id, body, headers);
      expect([hub_id, response.status]).toEqual([hub_id, status]);
      expect(await errorCode(response)).toBe(code);
    }
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM hubs WHERE id LIKE 'hub-bad-%' OR id = 'Hub_Bad'").first();
    expect(count).toEqual({ n: 0 });
  });

  it('lists hubs with their sync state', async () => {
    const hub = await registerHub(school_id);
    await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=10');
    const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/hubs/${hub.hub_id}`, {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { last_cursor: number; last_seen_at_ms: number; sent_through_seq: number };
    expect(body.last_cursor).toBe(0);
    expect(body.last_seen_at_ms).toBeGreaterThan(Date.now() - 60_000);
    expect(body.sent_through_seq).toBeGreaterThan(0);
  });
});

describe('hub request signatures', () => {
  let hub: TestHub;
  const path = '/api/v1/hub/changes?after=0&limit=5';

  beforeAll(async () => {
    hub = await registerHub(await createSchool('hubauth', ['B1']));
  });

  it('answers a correctly signed request', async () => {
    const response = await hubFetch(hub, 'GET', path);
    expect(response.status).toBe(200);
    const body = (await response.json()) as ChangesResponse;
    expect(body.changes.map((c) => c.kind)).toEqual(['card']);
  });

  it('refuses an unsigned request', async () => {
    const response = await SELF.fetch(`${ORIGIN}${path}`);
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('signature_invalid');
  });

  it('refuses a signature made with another key', async () => {
    const forger = await generateHubKey();
    const response = await hubFetch(hub, 'GET', path, undefined, { signing_key: forger.private_key });
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('signature_invalid');
  });

  it('refuses a signature over another hub id: the signature covers who is asking', async () => {
    const response = await hubFetch(hub, 'GET', path, undefined, { signed_hub_id: 'some-other-hub' });
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('signature_invalid');
  });

  it('refuses a body changed after signing, and a query changed after signing', async () => {
    const claims = { claims: [{ claim_id: 'x', card_no: 'B1', terminal_id: 't', amount_fen: 1, credit_ids: ['c'], balance_after_fen: 1, online_serial_after: 1, committed_at_ms: 1, card_terminal_id: '000000000001', proof: { kind: 'tac', tac: '00000000' } }] };
    const tampered = await hubFetch(hub, 'POST', '/api/v1/hub/claims', claims, { signed_body: '{"claims":[]}' });
    expect(tampered.status).toBe(401);
    expect(await errorCode(tampered)).toBe('signature_invalid');

    const headers = await signedHeaders(hub, 'GET', path, '');
    const other_query = await SELF.fetch(`${ORIGIN}/api/v1/hub/changes?after=0&limit=6`, { headers });
    expect(other_query.status).toBe(401);
    expect(await errorCode(other_query)).toBe('signature_invalid');
  });

  it('refuses a stale or future timestamp', async () => {
    for (const offset_ms of [-(HUB_CLOCK_SKEW_MS_MAX + 60_000), HUB_CLOCK_SKEW_MS_MAX + 60_000]) {
      const response = await hubFetch(hub, 'GET', path, undefined, { timestamp_ms: Date.now() + offset_ms });
      expect(response.status).toBe(401);
      expect(await errorCode(response)).toBe('timestamp_out_of_window');
    }
  });

  it('refuses a replayed request, even byte for byte identical', async () => {
    const headers = await signedHeaders(hub, 'GET', path, '');
    const first = await SELF.fetch(`${ORIGIN}${path}`, { headers });
    expect(first.status).toBe(200);
    await env.DB.prepare('UPDATE hubs SET last_seen_at_ms = 1 WHERE id = ?').bind(hub.hub_id).run();
    const replay = await SELF.fetch(`${ORIGIN}${path}`, { headers });
    expect(replay.status).toBe(401);
    expect(await errorCode(replay)).toBe('replayed');
    // A replay is not the hub being alive.
    expect(await env.DB.prepare('SELECT last_seen_at_ms FROM hubs WHERE id = ?').bind(hub.hub_id).first()).toEqual({ last_seen_at_ms: 1 });
    // The same nonce in a freshly signed request is a replay too.
    const reused = await hubFetch(hub, 'GET', path, undefined, { nonce: headers[HUB_HEADER_NONCE] });
    expect(await errorCode(reused)).toBe('replayed');
  });

  it('refuses an unknown hub', async () => {
    const stranger = { ...hub, hub_id: 'hub-never-registered' };
    const response = await hubFetch(stranger, 'GET', path);
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('unknown_hub');
  });

  it('does not spend a nonce on a request that fails the signature', async () => {
    const nonce = newNonce();
    const forger = await generateHubKey();
    const forged = await hubFetch(hub, 'GET', path, undefined, { nonce, signing_key: forger.private_key });
    expect(forged.status).toBe(401);
    const genuine = await hubFetch(hub, 'GET', path, undefined, { nonce });
    expect(genuine.status).toBe(200);
  });

  it('forgets nonces once their window has passed (bounded store)', async () => {
    const long_ago_ms = Date.now() - 3 * HUB_CLOCK_SKEW_MS_MAX;
    const statements = [];
    for (let i = 0; i < 10; i++) {
      statements.push(
        env.DB.prepare('INSERT INTO hub_nonces (hub_id, nonce, expires_at_ms) VALUES (?, ?, ?)').bind(hub.hub_id, `old-${i}-${newNonce()}`, long_ago_ms),
      );
    }
    await env.DB.batch(statements);
    expect(await hubFetch(hub, 'GET', path).then((r) => r.status)).toBe(200);
    const left = await env.DB.prepare('SELECT COUNT(*) AS n FROM hub_nonces WHERE expires_at_ms < ?').bind(Date.now()).first();
    expect(left).toEqual({ n: 0 });
  });

  it('refuses a body over the bound, declared or streamed', async () => {
    const big = JSON.stringify({ reports: [], padding: 'x'.repeat(HUB_BODY_BYTES_MAX) });
    const declared = await SELF.fetch(`${ORIGIN}/api/v1/hub/card-reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await signedHeaders(hub, 'POST', '/api/v1/hub/card-reports', big)) },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(await errorCode(declared)).toBe('payload_too_large');

    const bytes = new TextEncoder().encode(big);
    const streamed = await SELF.fetch(`${ORIGIN}/api/v1/hub/card-reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await signedHeaders(hub, 'POST', '/api/v1/hub/card-reports', big)) },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
          controller.close();
        },
      }),
    });
    expect(streamed.status).toBe(413);
    expect(await errorCode(streamed)).toBe('payload_too_large');
  });

  it('refuses malformed bodies on signed routes with a 4xx code', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/api/v1/hub/claims', { claims: [] }, 400, 'invalid_body'],
      ['/api/v1/hub/claims', { claims: [{ claim_id: 'x' }] }, 400, 'invalid_body'],
      ['/api/v1/hub/voids', { answers: [{ credit_id: 'c', result: 'maybe' }] }, 400, 'invalid_body'],
      ['/api/v1/hub/card-reports', { reports: [] }, 400, 'invalid_body'],
      ['/api/v1/hub/card-reports', { reports: [{ card_no: 'B1', balance_fen: -1, online_serial: 0, seen_at_ms: 1 }] }, 400, 'invalid_body'],
    ];
    for (const [route, body, status, code] of cases) {
      const response = await hubFetch(hub, 'POST', route, body);
      expect([route, response.status]).toEqual([route, status]);
      expect(await errorCode(response)).toBe(code);
    }
    const bad_query = await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=-1');
    expect(bad_query.status).toBe(400);
    expect(await errorCode(bad_query)).toBe('invalid_query');
    const not_json = await SELF.fetch(`${ORIGIN}/api/v1/hub/claims`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await signedHeaders(hub, 'POST', '/api/v1/hub/claims', '{nope')) },
      body: '{nope',
    });
    expect(not_json.status).toBe(400);
    expect(await errorCode(not_json)).toBe('invalid_json');
  });
});
