// Aliyun SMS `SendSms` (RPC style, HMAC-SHA1 signature, protocol/aliyun-sms.ts) as the Worker
// sends it. Depends only on fetch, WebCrypto and the configuration names it reads, so the same
// code runs in workerd and, for tests against the simulator, in Node.
import {
  ALIYUN_SMS_ACTION,
  ALIYUN_SMS_ENDPOINT,
  ALIYUN_SMS_VERSION,
  aliyunSignature,
  aliyunTimestamp,
  type AliyunSmsAnswer,
} from '../../protocol/aliyun-sms.ts';

export interface AliyunSmsVars {
  ALIYUN_SMS_ACCESS_KEY_ID?: string;
  ALIYUN_SMS_ACCESS_KEY_SECRET?: string;
  ALIYUN_SMS_SIGN_NAME?: string;
  /** Not a secret: Aliyun's endpoint, or the simulator's origin. */
  ALIYUN_SMS_ENDPOINT?: string;
}

export interface AliyunSmsConfig {
  access_key_id: string;
  access_key_secret: string;
  sign_name: string;
  endpoint: string;
}

export interface SmsMessage {
  phone: string;
  template_code: string;
  template_param: Record<string, string>;
  /** Our reference, echoed in Aliyun's delivery receipts: the notice id. */
  out_id: string;
}

// Aliyun answers in well under a second; past this the queue retries later.
const REQUEST_TIMEOUT_MS = 10_000;
const RESPONSE_CHARS_MAX = 16 * 1024;

/** A refusal or an unreachable provider; `transient` says whether a retry can succeed. */
export class SmsError extends Error {
  readonly code: string;
  readonly transient: boolean;

  constructor(code: string, message: string, transient: boolean) {
    super(message);
    this.code = code;
    this.transient = transient;
  }
}

// Codes after which the same request can succeed later: Aliyun's own trouble, flow control,
// and a clock or nonce problem of this one attempt (the next is signed afresh).
const TRANSIENT_CODES = new Set([
  'ServiceUnavailable',
  'InternalError',
  'Throttling',
  'Throttling.User',
  'isp.SYSTEM_ERROR',
  'isv.BUSINESS_LIMIT_CONTROL',
  'SignatureNonceUsed',
  'InvalidTimeStamp.Expired',
]);

/** The configuration, or SmsError 'not_configured' (permanent until someone configures it). */
export function aliyunSmsConfig(vars: AliyunSmsVars): AliyunSmsConfig {
  const missing = (['ALIYUN_SMS_ACCESS_KEY_ID', 'ALIYUN_SMS_ACCESS_KEY_SECRET', 'ALIYUN_SMS_SIGN_NAME'] as const).filter(
    (name) => !vars[name]?.trim(),
  );
  if (missing.length > 0) throw new SmsError('not_configured', `SMS is not configured: ${missing.join(', ')} missing`, false);
  const endpoint = (vars.ALIYUN_SMS_ENDPOINT?.trim() || ALIYUN_SMS_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+$/.test(endpoint)) throw new SmsError('not_configured', 'ALIYUN_SMS_ENDPOINT must be an origin', false);
  return {
    access_key_id: vars.ALIYUN_SMS_ACCESS_KEY_ID!.trim(),
    access_key_secret: vars.ALIYUN_SMS_ACCESS_KEY_SECRET!.trim(),
    sign_name: vars.ALIYUN_SMS_SIGN_NAME!.trim(),
    endpoint,
  };
}

/** The signed query of one SendSms request (exported for the simulator's tests). */
export async function signedSendSmsQuery(config: AliyunSmsConfig, message: SmsMessage, now_ms: number, nonce: string): Promise<string> {
  const params: Record<string, string> = {
    AccessKeyId: config.access_key_id,
    Action: ALIYUN_SMS_ACTION,
    Format: 'JSON',
    RegionId: 'cn-hangzhou',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: nonce,
    SignatureVersion: '1.0',
    Timestamp: aliyunTimestamp(now_ms),
    Version: ALIYUN_SMS_VERSION,
    PhoneNumbers: message.phone,
    SignName: config.sign_name,
    TemplateCode: message.template_code,
    TemplateParam: JSON.stringify(message.template_param),
    OutId: message.out_id,
  };
  params.Signature = await aliyunSignature(config.access_key_secret, 'GET', params);
  return new URLSearchParams(params).toString();
}

/** Sends one message; resolves with Aliyun's BizId, or throws SmsError. */
export async function sendSms(config: AliyunSmsConfig, message: SmsMessage, now_ms: number = Date.now()): Promise<{ biz_id: string }> {
  const query = await signedSendSmsQuery(config, message, now_ms, crypto.randomUUID());
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${config.endpoint}/?${query}`, { method: 'GET', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw new SmsError('unreachable', `Aliyun SMS unreachable: ${String(error).slice(0, 200)}`, true);
  }
  if (text.length > RESPONSE_CHARS_MAX) throw new SmsError('bad_response', 'answer too large', true);
  let answer: Partial<AliyunSmsAnswer> | null = null;
  try {
    answer = JSON.parse(text) as Partial<AliyunSmsAnswer>;
  } catch {
    answer = null;
  }
  const code = typeof answer?.Code === 'string' ? answer.Code.slice(0, 64) : `http_${status}`;
  const detail = typeof answer?.Message === 'string' ? answer.Message.slice(0, 200) : text.slice(0, 80);
  if (status === 200 && code === 'OK' && typeof answer?.BizId === 'string' && answer.BizId.length > 0) {
    return { biz_id: answer.BizId.slice(0, 64) };
  }
  throw new SmsError(code, `Aliyun SMS answered ${status} ${code}: ${detail}`, status >= 500 || status === 429 || TRANSIENT_CODES.has(code));
}
