// WeChat Pay's side of a notification, for Worker tests: a platform key pair and API v3 key of
// the test's own, and notifications encrypted and signed exactly as WeChat Pay sends them (the
// simulated gateway uses the same protocol module). The Worker under test gets this identity
// as its configuration, so the test holds the private half the real WeChat Pay would.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { bytesToHex } from '../../../protocol/encoding.ts';
import { generateRsaKeyPair, importRsaPrivateKey } from '../../../protocol/rsa.ts';
import {
  encryptResource,
  formatWechatTime,
  importApiV3Key,
  signBody,
  type WechatTransaction,
} from '../../../protocol/wechat.ts';
import { app } from '../../../worker/app.ts';
import type { Env } from '../../../worker/env.ts';

export interface WechatPlatform {
  vars: {
    WECHATPAY_MCH_ID: string;
    WECHATPAY_APP_ID: string;
    WECHATPAY_API_V3_KEY: string;
    WECHATPAY_PUBLIC_KEY: string;
    WECHATPAY_PUBLIC_KEY_ID: string;
  };
  platform_private_key: CryptoKey;
  api_v3_key: CryptoKey;
}

export async function createWechatPlatform(): Promise<WechatPlatform> {
  const pair = await generateRsaKeyPair();
  const api_v3_key_text = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
  return {
    vars: {
      WECHATPAY_MCH_ID: '1900000001',
      WECHATPAY_APP_ID: 'wx0000000000000001',
      WECHATPAY_API_V3_KEY: api_v3_key_text,
      WECHATPAY_PUBLIC_KEY: pair.public_key,
      WECHATPAY_PUBLIC_KEY_ID: `PUB_KEY_ID_${bytesToHex(crypto.getRandomValues(new Uint8Array(12))).toUpperCase()}`,
    },
    platform_private_key: await importRsaPrivateKey(pair.private_key),
    api_v3_key: await importApiV3Key(api_v3_key_text),
  };
}

/** The decrypted resource of a successful payment, as WeChat Pay writes it. */
export function paidTransaction(
  platform: WechatPlatform,
  order_id: string,
  amount_fen: number,
  success_at_ms: number,
): WechatTransaction {
  return {
    appid: platform.vars.WECHATPAY_APP_ID,
    mchid: platform.vars.WECHATPAY_MCH_ID,
    out_trade_no: order_id,
    transaction_id: `4200002026112200${order_id.slice(-12).padStart(12, '0')}`,
    trade_type: 'MWEB',
    trade_state: 'SUCCESS',
    trade_state_desc: '支付成功',
    bank_type: 'OTHERS',
    success_time: formatWechatTime(success_at_ms),
    payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    amount: { total: amount_fen, payer_total: amount_fen, currency: 'CNY', payer_currency: 'CNY' },
  };
}

export interface SignedNotification {
  headers: Record<string, string>;
  body: string;
}

export async function wechatNotification(
  platform: WechatPlatform,
  transaction: WechatTransaction,
  options: { now_ms?: number; event_type?: string } = {},
): Promise<SignedNotification> {
  const now_ms = options.now_ms ?? Date.now();
  const resource = await encryptResource(platform.api_v3_key, JSON.stringify(transaction), 'transaction', 'transaction');
  const body = JSON.stringify({
    id: crypto.randomUUID(),
    create_time: formatWechatTime(now_ms),
    resource_type: 'encrypt-resource',
    event_type: options.event_type ?? (transaction.trade_state === 'SUCCESS' ? 'TRANSACTION.SUCCESS' : 'TRANSACTION.CLOSED'),
    summary: '支付成功',
    resource,
  });
  return signNotificationBody(platform, body, now_ms);
}

/** Signs any body as WeChat Pay would, so a test can sign a body it altered on purpose. */
export async function signNotificationBody(platform: WechatPlatform, body: string, now_ms = Date.now()): Promise<SignedNotification> {
  const signed = await signBody(platform.platform_private_key, platform.vars.WECHATPAY_PUBLIC_KEY_ID, body, now_ms);
  return { headers: { 'content-type': 'application/json', ...signed }, body };
}

/** D1 with a count of the statements the Worker prepares: each prepared statement is one query. */
export function countingD1(d1: D1Database): { db: D1Database; count: () => number } {
  let statements = 0;
  const db = new Proxy(d1, {
    get(target, property) {
      if (property === 'prepare') {
        return (query: string) => {
          statements += 1;
          return target.prepare(query);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db, count: () => statements };
}

/** A D1 whose writes fail as an overloaded database does; reads go through. */
export function failingWritesD1(d1: D1Database): D1Database {
  return new Proxy(d1, {
    get(target, property) {
      if (property === 'batch') return async () => Promise.reject(new Error('D1_ERROR: database is overloaded'));
      if (property === 'prepare') {
        return (query: string) => {
          const statement = target.prepare(query);
          if (/^\s*select/i.test(query)) return statement;
          return new Proxy(statement, {
            get(s, p) {
              if (p === 'run' || p === 'all' || p === 'raw' || p === 'first') {
                return async () => Promise.reject(new Error('D1_ERROR: database is overloaded'));
              }
              if (p === 'bind') return (...values: unknown[]) => failingStatement(s.bind(...values));
              const v: unknown = Reflect.get(s, p, s);
              return typeof v === 'function' ? v.bind(s) : v;
            },
          });
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function failingStatement(statement: D1PreparedStatement): D1PreparedStatement {
  return new Proxy(statement, {
    get(s, p) {
      if (p === 'run' || p === 'all' || p === 'raw' || p === 'first') {
        return async () => Promise.reject(new Error('D1_ERROR: database is overloaded'));
      }
      const v: unknown = Reflect.get(s, p, s);
      return typeof v === 'function' ? v.bind(s) : v;
    },
  });
}

/**
 * Posts to the Worker's real app with this platform's identity as configuration (the suite's
 * bindings stay as they are for every other test) and, optionally, another D1 binding.
 */
export async function postNotification(
  platform: WechatPlatform,
  notification: SignedNotification,
  overrides: Partial<Env> = {},
): Promise<Response> {
  const request = new Request('http://yikatong.test/api/v1/notify/wechat', {
    method: 'POST',
    headers: notification.headers,
    body: notification.body,
  });
  const ctx = createExecutionContext();
  const response = await app.fetch(request, { ...env, ...platform.vars, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
