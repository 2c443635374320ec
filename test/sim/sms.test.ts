// The simulated Aliyun SMS API as a real process: the Worker's own client (worker/notices/
// aliyun-sms.ts) sends through it; forged, stale, replayed and malformed requests are refused
// with Aliyun's codes and leave no message; "down" answers 503 until it is up again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliyunSignature } from '../../protocol/aliyun-sms.ts';
import { sendSms, signedSendSmsQuery, SmsError, type AliyunSmsConfig } from '../../worker/notices/aliyun-sms.ts';
import { spawnSmsSim, type SmsProcess } from '../../sim/sms/process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-sms-'));
const SECRET = `secret-${crypto.randomUUID()}`;
let sms: SmsProcess;
let config: AliyunSmsConfig;
const message = { phone: '13912345678', template_code: 'SMS_100001', template_param: { amount: '100.00', school: '北京交通大学威海校区' }, out_id: '1' };

beforeAll(async () => {
  const config_path = path.join(dir, 'sms.json');
  writeFileSync(config_path, JSON.stringify({ access_key_id: 'LTAI-test', access_key_secret: SECRET, sign_names: ['一卡通'] }));
  sms = await spawnSmsSim({ config_path });
  config = { access_key_id: 'LTAI-test', access_key_secret: SECRET, sign_name: '一卡通', endpoint: sms.origin };
});

afterAll(async () => {
  await sms?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function messagesTo(phone: string): Promise<{ template_param: Record<string, string>; sign_name: string }[]> {
  const response = await fetch(`${sms.origin}/sim/messages?phone=${phone}`);
  return ((await response.json()) as { messages: { template_param: Record<string, string>; sign_name: string }[] }).messages;
}

async function raw(query: string): Promise<{ status: number; Code: string }> {
  const response = await fetch(`${sms.origin}/?${query}`);
  return { status: response.status, Code: ((await response.json()) as { Code: string }).Code };
}

describe('Aliyun SMS signature', () => {
  it('reproduces the worked example of Aliyun\'s signature documentation', async () => {
    const params = {
      AccessKeyId: 'testId', Action: 'SendSms', Format: 'XML', OutId: '123', PhoneNumbers: '15300000001', RegionId: 'cn-hangzhou',
      SignName: '阿里云短信测试专用', SignatureMethod: 'HMAC-SHA1', SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466',
      SignatureVersion: '1.0', TemplateCode: 'SMS_71390007', TemplateParam: '{"customer":"test"}', Timestamp: '2017-07-12T02:42:19Z',
      Version: '2017-05-25',
    };
    expect(await aliyunSignature('testSecret', 'GET', params)).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
  });
});

describe('SMS simulator', () => {
  it('accepts a correctly signed SendSms and shows the message', async () => {
    const { biz_id } = await sendSms(config, message);
    expect(biz_id).toMatch(/^\d+\^0$/);
    expect(await messagesTo(message.phone)).toEqual([expect.objectContaining({ sign_name: '一卡通', template_param: message.template_param })]);
  });

  it('refuses a forged, replayed, stale or malformed request, and keeps none of them', async () => {
    const phone = '13700000001';
    const forged = await signedSendSmsQuery({ ...config, access_key_secret: 'not-the-secret' }, { ...message, phone }, Date.now(), crypto.randomUUID());
    expect(await raw(forged)).toEqual({ status: 400, Code: 'SignatureDoesNotMatch' });
    // A signed request for one number, altered to another: the signature covers every parameter.
    const genuine = await signedSendSmsQuery(config, { ...message, phone }, Date.now(), crypto.randomUUID());
    expect(await raw(genuine.replace(`PhoneNumbers=${phone}`, 'PhoneNumbers=13700000002'))).toEqual({ status: 400, Code: 'SignatureDoesNotMatch' });
    const stale = await signedSendSmsQuery(config, { ...message, phone }, Date.now() - 20 * 60_000, crypto.randomUUID());
    expect(await raw(stale)).toEqual({ status: 400, Code: 'InvalidTimeStamp.Expired' });
    const malformed = await signedSendSmsQuery(config, { ...message, phone: '12345' }, Date.now(), crypto.randomUUID());
    expect(await raw(malformed)).toEqual({ status: 200, Code: 'isv.MOBILE_NUMBER_ILLEGAL' });
    const once = await signedSendSmsQuery(config, { ...message, phone }, Date.now(), crypto.randomUUID());
    expect(await raw(once)).toEqual({ status: 200, Code: 'OK' });
    expect(await raw(once)).toEqual({ status: 400, Code: 'SignatureNonceUsed' });
    expect(await messagesTo(phone)).toHaveLength(1);
    expect(await messagesTo('13700000002')).toHaveLength(0);
  });

  it('is down when told (503, a transient error for the client) and up again after', async () => {
    const phone = '13600000001';
    const put = (body: unknown) => fetch(`${sms.origin}/sim/down`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put({ down: true, phones: [phone] })).status).toBe(200);
    const failure = await sendSms(config, { ...message, phone }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SmsError);
    expect(failure).toMatchObject({ code: 'ServiceUnavailable', transient: true });
    // Another number is unaffected: the outage is scoped so parallel tests do not see it.
    await sendSms(config, { ...message, phone: '13600000002' });
    expect((await put({ down: false, phones: [phone] })).status).toBe(200);
    await sendSms(config, { ...message, phone });
    expect(await messagesTo(phone)).toHaveLength(1);
  });

  it('a wrong sign name is a permanent refusal', async () => {
    const failure = await sendSms({ ...config, sign_name: '别的签名' }, { ...message, phone: '13500000001' }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'isv.SMS_SIGNATURE_ILLEGAL', transient: false });
  });
});
