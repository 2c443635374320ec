// Placeholder until the alipay integration lands: refuses every call as not configured.
import type { Env } from '../env.ts';
import { ProviderError, type PaymentChannel } from './channel.ts';

export function alipayChannel(_env: Env): PaymentChannel {
  const refuse = async (): Promise<never> => {
    throw new ProviderError('alipay', 'not_configured', 'alipay is not configured', false);
  };
  return { channel: 'alipay', createPayment: refuse, queryTrade: refuse, closeTrade: refuse, refund: refuse };
}
