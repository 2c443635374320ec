// The words and colours of every state the console shows, in one place.
import type { TopupStatus } from '../../../protocol/api.ts';
import type { ConsoleRefund } from '../../../protocol/console.ts';
import { useI18n } from '../i18n.ts';
import { Badge } from './common.tsx';

const TOPUP_TONES: Record<TopupStatus, 'ok' | 'warn' | 'bad' | 'neutral' | 'info'> = {
  unpaid: 'neutral',
  pending_claim: 'warn',
  claimed: 'ok',
  closed: 'neutral',
  refunded: 'info',
};

export function TopupBadge({ status, testid }: { status: TopupStatus; testid?: string }) {
  const { t } = useI18n();
  return (
    <Badge tone={TOPUP_TONES[status]} testid={testid}>
      {t(`topup_${status}`)}
    </Badge>
  );
}

const REFUND_TONES: Record<ConsoleRefund['state'], 'ok' | 'warn' | 'bad' | 'neutral' | 'info'> = {
  requested: 'warn',
  provider_pending: 'warn',
  refunded: 'ok',
  refused: 'bad',
  failed: 'bad',
};

export function RefundBadge({ state, testid }: { state: ConsoleRefund['state']; testid?: string }) {
  const { t } = useI18n();
  return (
    <Badge tone={REFUND_TONES[state]} testid={testid}>
      {t(`refund_${state}`)}
    </Badge>
  );
}
