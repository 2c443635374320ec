// The simulated Aliyun SMS API (dysmsapi `SendSms`, RPC style, version 2017-05-25): one Node
// http server on 127.0.0.1 that checks every request as Aliyun does — the AccessKeyId it
// knows, the HMAC-SHA1 signature over the canonicalised query, a Timestamp within 15 minutes,
// a SignatureNonce never seen before, the phone number, sign name, template and its JSON
// parameters — and answers in Aliyun's JSON. What it accepted is kept for tests to read.
//
// Controls under /sim/ (JSON, not part of Aliyun's protocol):
//   GET  /sim/health
//   GET  /sim/messages?phone=        → {messages}   what was accepted (phone numbers in full)
//   PUT  /sim/down {down, phones?}    → {down, phones}: answer 503 ServiceUnavailable, to
//                                       every request or to those for the listed numbers only
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ALIYUN_PARAMS_MAX,
  ALIYUN_SMS_ACTION,
  ALIYUN_SMS_VERSION,
  ALIYUN_TIMESTAMP_SKEW_MS_MAX,
  aliyunVerify,
  maskPhone,
  parseAliyunTimestamp,
  type AliyunSmsAnswer,
} from '../../protocol/aliyun-sms.ts';

export interface SmsSimConfig {
  access_key_id: string;
  access_key_secret: string;
  /** Sign names (签名) approved for this account; others are refused as Aliyun does. */
  sign_names: string[];
}

export interface SentMessage {
  biz_id: string;
  phone: string;
  sign_name: string;
  template_code: string;
  template_param: Record<string, string>;
  out_id: string | null;
  received_at_ms: number;
}

export interface RunningSmsSim {
  origin: string;
  port: number;
  messages(): SentMessage[];
  close(): Promise<void>;
}

// Bounds: a test run sends hundreds of messages; nonces live as long as a timestamp is valid.
const MESSAGES_MAX = 10_000;
const NONCES_MAX = 100_000;
const BODY_BYTES_MAX = 16 * 1024;
const TEMPLATE_PARAM_CHARS_MAX = 1_000;
const PHONES_DOWN_MAX = 100;
const MOBILE = /^1[3-9][0-9]{9}$/;

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? '0') > BODY_BYTES_MAX) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_BYTES_MAX) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function requestId(): string {
  return crypto.randomUUID().toUpperCase();
}

export async function startSmsSim(options: { config: SmsSimConfig; port: number; host?: string; log?: (line: string) => void }): Promise<RunningSmsSim> {
  const { config } = options;
  const host = options.host ?? '127.0.0.1';
  const messages: SentMessage[] = [];
  // Nonce → when it was seen; forgotten once its timestamp could no longer be accepted.
  const nonces = new Map<string, number>();
  let down: { all: boolean; phones: Set<string> } = { all: false, phones: new Set() };
  let seq = 0;

  function aliyun(status: number, code: string, message: string, extra: Partial<AliyunSmsAnswer> = {}) {
    const body: AliyunSmsAnswer = { Code: code, Message: message, RequestId: requestId(), ...extra };
    return { status, type: 'application/json;charset=utf-8', body: JSON.stringify(body) };
  }

  function rememberNonce(nonce: string, now_ms: number): boolean {
    if (nonces.has(nonce)) return false;
    if (nonces.size >= NONCES_MAX) {
      for (const [old, at_ms] of nonces) if (at_ms < now_ms - 2 * ALIYUN_TIMESTAMP_SKEW_MS_MAX) nonces.delete(old);
      while (nonces.size >= NONCES_MAX) nonces.delete(nonces.keys().next().value!);
    }
    nonces.set(nonce, now_ms);
    return true;
  }

  async function sendSms(method: 'GET' | 'POST', params: Record<string, string>, now_ms: number) {
    for (const name of ['AccessKeyId', 'Action', 'Signature', 'SignatureMethod', 'SignatureNonce', 'SignatureVersion', 'Timestamp', 'Version']) {
      if (!params[name]) return aliyun(400, 'MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);
    }
    if (params.Action !== ALIYUN_SMS_ACTION) return aliyun(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
    if (params.Version !== ALIYUN_SMS_VERSION) return aliyun(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
    if (params.AccessKeyId !== config.access_key_id) return aliyun(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0') {
      return aliyun(400, 'UnsupportedSignatureMethod', 'Specified signature method is not supported.');
    }
    if (!(await aliyunVerify(config.access_key_secret, method, params))) {
      return aliyun(400, 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.');
    }
    const at_ms = parseAliyunTimestamp(params.Timestamp!);
    if (at_ms === null) return aliyun(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.');
    if (Math.abs(at_ms - now_ms) > ALIYUN_TIMESTAMP_SKEW_MS_MAX) return aliyun(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    if (params.SignatureNonce!.length > 64 || !rememberNonce(params.SignatureNonce!, now_ms)) {
      return aliyun(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    }
    const phone = params.PhoneNumbers ?? '';
    if (down.all || down.phones.has(phone)) {
      return aliyun(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.');
    }
    // Business refusals are HTTP 200 with their own Code, as Aliyun answers them.
    if (!MOBILE.test(phone)) return aliyun(200, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
    if (!config.sign_names.includes(params.SignName ?? '')) return aliyun(200, 'isv.SMS_SIGNATURE_ILLEGAL', '短信签名不合法');
    if (!/^SMS_[0-9]{1,12}$/.test(params.TemplateCode ?? '')) return aliyun(200, 'isv.SMS_TEMPLATE_ILLEGAL', '短信模版不合法');
    let template_param: Record<string, string> = {};
    if (params.TemplateParam !== undefined) {
      try {
        const value: unknown = JSON.parse(params.TemplateParam);
        if (params.TemplateParam.length > TEMPLATE_PARAM_CHARS_MAX || typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error();
        if (!Object.values(value).every((v) => typeof v === 'string')) throw new Error();
        template_param = value as Record<string, string>;
      } catch {
        return aliyun(200, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值');
      }
    }
    const biz_id = `${(++seq).toString().padStart(12, '0')}^0`;
    if (messages.length >= MESSAGES_MAX) messages.shift();
    messages.push({
      biz_id,
      phone,
      sign_name: params.SignName!,
      template_code: params.TemplateCode!,
      template_param,
      out_id: params.OutId ?? null,
      received_at_ms: now_ms,
    });
    options.log?.(JSON.stringify({ msg: 'sms accepted', phone: maskPhone(phone), template_code: params.TemplateCode, biz_id }));
    return aliyun(200, 'OK', 'OK', { BizId: biz_id });
  }

  function control(method: string, url: URL, body: string) {
    const json = (status: number, value: unknown) => ({ status, type: 'application/json; charset=utf-8', body: JSON.stringify(value) });
    if (url.pathname === '/sim/health' && method === 'GET') return json(200, { ok: true });
    if (url.pathname === '/sim/messages' && method === 'GET') {
      const phone = url.searchParams.get('phone');
      return json(200, { messages: phone === null ? messages : messages.filter((m) => m.phone === phone) });
    }
    if (url.pathname === '/sim/down' && method === 'PUT') {
      let value: { down?: unknown; phones?: unknown };
      try {
        value = JSON.parse(body) as typeof value;
      } catch {
        return json(400, { error: { code: 'invalid_json', message: 'body is not JSON' } });
      }
      const phones = value.phones ?? [];
      if (typeof value.down !== 'boolean' || !Array.isArray(phones) || phones.length > PHONES_DOWN_MAX || !phones.every((p) => typeof p === 'string')) {
        return json(400, { error: { code: 'invalid_body', message: `down is a boolean; phones a list of at most ${PHONES_DOWN_MAX} numbers` } });
      }
      const listed = new Set(phones as string[]);
      // Down for the listed numbers only, or for everyone when none are listed.
      if (value.down) down = { all: listed.size === 0 ? true : down.all, phones: new Set([...down.phones, ...listed]) };
      else if (listed.size === 0) down = { all: false, phones: new Set() };
      else down = { all: down.all, phones: new Set([...down.phones].filter((p) => !listed.has(p))) };
      return json(200, { down: down.all, phones: [...down.phones] });
    }
    return json(404, { error: { code: 'not_found', message: 'no such control' } });
  }

  const server: Server = createServer(async (req, res) => {
    let answer: { status: number; type: string; body: string };
    try {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://sms.invalid');
      const method = (req.method ?? 'GET').toUpperCase();
      if (url.pathname.startsWith('/sim/')) {
        answer = control(method, url, body);
      } else if (url.pathname === '/' && (method === 'GET' || method === 'POST')) {
        const params: Record<string, string> = {};
        let count = 0;
        let too_many = false;
        const sources = [url.searchParams];
        if (method === 'POST' && /x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) sources.push(new URLSearchParams(body));
        for (const source of sources) {
          for (const [key, value] of source) {
            if (++count > ALIYUN_PARAMS_MAX) too_many = true;
            params[key] = value;
          }
        }
        answer = too_many
          ? aliyun(400, 'InvalidParameter', 'Too many parameters.')
          : await sendSms(method as 'GET' | 'POST', params, Date.now());
      } else {
        answer = aliyun(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
      }
    } catch (err) {
      answer =
        err instanceof BodyTooLarge
          ? aliyun(413, 'InvalidParameter', 'Request body too large.')
          : aliyun(500, 'InternalError', 'The request processing has failed due to some unknown error.');
    }
    res.writeHead(answer.status, { 'content-type': answer.type });
    res.end(answer.body);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://${host}:${port}`,
    port,
    messages: () => [...messages],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
