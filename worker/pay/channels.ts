// The channel for an order, built from the Worker's configuration on each use: configuration
// is per request in Workers, and key import is cached inside each channel module.
import type { Channel } from '../../protocol/api.ts';
import type { Env } from '../env.ts';
import { alipayChannel } from './alipay.ts';
import type { PaymentChannel } from './channel.ts';
import { wechatChannel } from './wechat.ts';

export function paymentChannel(env: Env, channel: Channel): PaymentChannel {
  return channel === 'alipay' ? alipayChannel(env) : wechatChannel(env);
}
