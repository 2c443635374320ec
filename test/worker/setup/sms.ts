// The simulated Aliyun SMS process for the workerd tests, with an access key made for this run
// only, and the Worker bindings that point at it. Retries are immediate (NOTICE_RETRY_DELAY_S
// 0) so a dead letter is reached in seconds, through the queue's own max_retries.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSmsSim } from '../../../sim/sms/process.ts';

export const TEST_SMS_SIGN_NAME = '一卡通';

export async function startSmsForTests(config_dir: string): Promise<{ origin: string; bindings: Record<string, string>; stop(): Promise<void> }> {
  const access_key_id = `LTAI${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const access_key_secret = crypto.randomUUID().replace(/-/g, '');
  const config_path = path.join(config_dir, 'sms.json');
  writeFileSync(config_path, JSON.stringify({ access_key_id, access_key_secret, sign_names: [TEST_SMS_SIGN_NAME] }));
  const sms = await spawnSmsSim({ config_path });
  return {
    origin: sms.origin,
    bindings: {
      ALIYUN_SMS_ACCESS_KEY_ID: access_key_id,
      ALIYUN_SMS_ACCESS_KEY_SECRET: access_key_secret,
      ALIYUN_SMS_SIGN_NAME: TEST_SMS_SIGN_NAME,
      ALIYUN_SMS_ENDPOINT: sms.origin,
      ALIYUN_SMS_TEMPLATE_PAID: 'SMS_900001',
      ALIYUN_SMS_TEMPLATE_CLAIMED: 'SMS_900002',
      ALIYUN_SMS_TEMPLATE_REFUNDED: 'SMS_900003',
      ALIYUN_SMS_TEMPLATE_AUTO_CHARGED: 'SMS_900004',
      NOTICE_RETRY_DELAY_S: '0',
    },
    stop: () => sms.stop(),
  };
}
