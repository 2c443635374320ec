// Sandbox identities and keys for local development and tests: generated, never committed.
// `npm start` writes them to `.dev.vars` (the Worker) and `.dev/gateway.json` (the simulated
// gateway); the workerd tests hand them to the Worker as bindings.
import { bytesToHex } from '../protocol/encoding.ts';
import { generateRsaKeyPair } from '../protocol/rsa.ts';

export interface SandboxKeys {
  alipay: {
    app_id: string;
    seller_id: string;
    /** The merchant's pair: the Worker signs requests with the private half. */
    merchant_private_key: string;
    merchant_public_key: string;
    /** Alipay's pair: the gateway signs notifications and responses with the private half. */
    alipay_private_key: string;
    alipay_public_key: string;
  };
  wechat: {
    mch_id: string;
    app_id: string;
    /** 32 ASCII characters, used as the AES-256-GCM key of notification resources. */
    api_v3_key: string;
    merchant_private_key: string;
    merchant_public_key: string;
    merchant_serial_no: string;
    /** WeChat Pay's platform pair ("WeChat Pay public key" mode). */
    platform_private_key: string;
    platform_public_key: string;
    platform_public_key_id: string;
  };
  admin_token: string;
  card_token_secret: string;
}

function randomHex(bytes: number): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function generateSandboxKeys(): Promise<SandboxKeys> {
  const [alipayMerchant, alipayPlatform, wechatMerchant, wechatPlatform] = await Promise.all([
    generateRsaKeyPair(),
    generateRsaKeyPair(),
    generateRsaKeyPair(),
    generateRsaKeyPair(),
  ]);
  return {
    alipay: {
      app_id: '2021000000000001',
      seller_id: '2088000000000001',
      merchant_private_key: alipayMerchant.private_key,
      merchant_public_key: alipayMerchant.public_key,
      alipay_private_key: alipayPlatform.private_key,
      alipay_public_key: alipayPlatform.public_key,
    },
    wechat: {
      mch_id: '1900000001',
      app_id: 'wx0000000000000001',
      api_v3_key: randomHex(16),
      merchant_private_key: wechatMerchant.private_key,
      merchant_public_key: wechatMerchant.public_key,
      merchant_serial_no: randomHex(20).toUpperCase(),
      platform_private_key: wechatPlatform.private_key,
      platform_public_key: wechatPlatform.public_key,
      platform_public_key_id: `PUB_KEY_ID_${randomHex(12).toUpperCase()}`,
    },
    admin_token: randomHex(24),
    card_token_secret: randomHex(32),
  };
}

/** PEM to the bare base64 body: one line, as provider consoles print keys and `.dev.vars` wants. */
export function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** The Worker's configuration (DESIGN section 5 names) for a gateway at `gateway_origin`. */
export function workerVars(keys: SandboxKeys, gateway_origin: string): Record<string, string> {
  return {
    ALIPAY_APP_ID: keys.alipay.app_id,
    ALIPAY_SELLER_ID: keys.alipay.seller_id,
    ALIPAY_PUBLIC_KEY: keys.alipay.alipay_public_key,
    ALIPAY_PRIVATE_KEY: pemBody(keys.alipay.merchant_private_key),
    ALIPAY_GATEWAY: `${gateway_origin}/gateway.do`,
    WECHATPAY_MCH_ID: keys.wechat.mch_id,
    WECHATPAY_APP_ID: keys.wechat.app_id,
    WECHATPAY_API_V3_KEY: keys.wechat.api_v3_key,
    WECHATPAY_PUBLIC_KEY: keys.wechat.platform_public_key,
    WECHATPAY_PUBLIC_KEY_ID: keys.wechat.platform_public_key_id,
    WECHATPAY_PRIVATE_KEY: pemBody(keys.wechat.merchant_private_key),
    WECHATPAY_SERIAL_NO: keys.wechat.merchant_serial_no,
    WECHATPAY_GATEWAY: gateway_origin,
    ADMIN_TOKEN: keys.admin_token,
    CARD_TOKEN_SECRET: keys.card_token_secret,
  };
}

/** `.dev.vars` text: one `NAME="value"` line each; every value here is a single line. */
export function toDevVars(vars: Record<string, string>): string {
  for (const [name, value] of Object.entries(vars)) {
    if (/["\n\\]/.test(value)) throw new RangeError(`${name} must be one line without quotes`);
  }
  return Object.entries(vars).map(([name, value]) => `${name}="${value}"`).join('\n') + '\n';
}
