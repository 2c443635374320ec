// A saved card's next top-up: only the amount (and the channel).
import type { Channel } from '../../../protocol/api.ts';
import { AMOUNT_FEN_DEFAULT, MAX_AMOUNT_FEN_DEFAULT, fenToYuan } from '../../../protocol/money.ts';
import { useState } from 'preact/hooks';
import type { Outcome } from '../data/actions.ts';
import type { SavedCard } from '../data/db.ts';
import { checkAmount } from '../form.ts';
import { useI18n } from '../i18n.ts';
import { AmountPicker, ChannelPicker, PayButton } from './AmountPicker.tsx';
import { ErrorText, Link, Page } from './common.tsx';

export function QuickTopup(props: {
  card: SavedCard | null | undefined;
  max_amount_fen: number | undefined;
  online: boolean;
  /** Creates the order for the saved card; its value is the cashier's pay_url. */
  start: (card: SavedCard, amount_fen: number, channel: Channel) => Promise<Outcome<string>>;
  onPay?: (pay_url: string) => void;
}) {
  const { t } = useI18n();
  const [amountText, setAmountText] = useState(fenToYuan(AMOUNT_FEN_DEFAULT));
  const [channel, setChannel] = useState<Channel>('alipay');
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const card = props.card;
  const max_amount_fen = props.max_amount_fen ?? MAX_AMOUNT_FEN_DEFAULT;
  const amount = checkAmount(amountText, max_amount_fen);

  if (card === undefined) return <Page title={t('quick_title')} back="/">{null}</Page>;
  if (card === null) {
    return (
      <Page title={t('quick_title')} back="/">
        <ErrorText code="not_found" />
        <Link href="/topup" class="button button-wide">
          {t('new_card')}
        </Link>
      </Page>
    );
  }

  async function submit(event: Event) {
    event.preventDefault();
    setSubmitted(true);
    setFailure(null);
    if (!props.online) return setFailure('offline');
    if (card === null || card === undefined || !amount.ok) return;
    setBusy(true);
    const outcome = await props.start(card, amount.value, channel);
    if (!outcome.ok) {
      setFailure(outcome.code);
      setBusy(false);
      return;
    }
    (props.onPay ?? ((url: string) => location.assign(url)))(outcome.value);
  }

  return (
    <Page title={t('quick_title')} back="/">
      <form class="form" onSubmit={submit} noValidate>
        <p class="quick-card">
          <strong>{card.school_name}</strong>
          <br />
          {card.holder_name_masked} · {t(`kind_${card.kind}`)} · {card.card_no}
        </p>
        <AmountPicker text={amountText} onChange={setAmountText} max_amount_fen={max_amount_fen} touched={submitted} />
        <ChannelPicker value={channel} onChange={setChannel} />
        <p class="muted small">{t('terms_agreed_before')} <Link href="/terms">{t('terms_link')}</Link></p>
        <PayButton online={props.online} busy={busy} failure={failure} amount={amount} />
      </form>
    </Page>
  );
}
