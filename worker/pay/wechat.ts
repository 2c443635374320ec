// Placeholder until the wechat integration lands: refuses every call as not configured.
import type { Env } from '../env.ts';
import { ProviderError, type PaymentChannel } from './channel.ts';

export function wechatChannel(_env: Env): PaymentChannel {
  const refuse = async (): Promise<never> => {
    throw new ProviderError('wechat', 'not_configured', 'wechat is not configured', false);
  };
  return { channel: 'wechat', createPayment: refuse, queryTrade: refuse, closeTrade: refuse, refund: refuse };
}
