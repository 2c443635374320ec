// Auto top-up settings of a saved card (DESIGN section 8): the agreement's state, threshold,
// amount and daily cap, its latest charges, and why it stopped; sign (Alipay's signing page)
// and cancel. Data comes and goes through the props; this component only renders.
import type { AutoTopupAgreement } from '../../../protocol/auto-topup.ts';
import { fenToYuan } from '../../../protocol/money.ts';
import { useEffect, useState } from 'preact/hooks';
import type { Outcome } from '../data/actions.ts';
import type { SavedCard } from '../data/db.ts';
import { checkAmount, checkMobile } from '../form.ts';
import { useI18n, type MessageKey } from '../i18n.ts';
import { ErrorText, Page, Yuan } from './common.tsx';

export interface AutoTopupTerms {
  threshold_fen: number;
  amount_fen: number;
  daily_cap_fen: number;
  /** For an SMS after each charge. */
  notify_phone?: string;
}

export interface AutoTopupActions {
  load: (card: SavedCard) => Promise<Outcome<AutoTopupAgreement | null>>;
  /** Creates the agreement; its value is Alipay's signing page. */
  sign: (card: SavedCard, terms: AutoTopupTerms) => Promise<Outcome<string>>;
  cancel: (card: SavedCard, agreement_id: string) => Promise<Outcome<AutoTopupAgreement | null>>;
  onSign?: (sign_url: string) => void;
}

function AgreementView({ agreement }: { agreement: AutoTopupAgreement }) {
  const { t, time } = useI18n();
  const state_key: MessageKey = agreement.state === 'active' ? 'auto_state_active' : agreement.state === 'signing' ? 'auto_state_signing' : 'auto_state_stopped';
  return (
    <section class="order" aria-live="polite" data-testid="auto-agreement">
      <p class={`status status-auto-${agreement.state}`} data-testid="auto-state">
        {t(state_key)}
      </p>
      {agreement.state === 'stopped' && agreement.stop_reason !== null ? (
        <p class="order-help" data-testid="auto-stop-reason">
          {t(`auto_stop_${agreement.stop_reason}`)}
        </p>
      ) : null}
      <p>{t('auto_summary', { threshold: fenToYuan(agreement.threshold_fen), amount: fenToYuan(agreement.amount_fen) })}</p>
      <p class="muted">{t('auto_cap_today', { cap: fenToYuan(agreement.daily_cap_fen), today: fenToYuan(agreement.charged_today_fen) })}</p>
      {agreement.charges.length > 0 ? (
        <ul class="records">
          {agreement.charges.map((charge) => (
            <li key={charge.order_id} class="record" data-testid="auto-charge">
              <Yuan amount_fen={charge.amount_fen} /> · {time(charge.created_at)} · {t(charge.status === 'closed' ? 'status_closed' : charge.status === 'unpaid' ? 'status_unpaid' : 'auto_charge_paid')}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

export function AutoTopup(props: { card: SavedCard | null | undefined; online: boolean } & AutoTopupActions) {
  const { t } = useI18n();
  const [agreement, setAgreement] = useState<AutoTopupAgreement | null | undefined>(undefined);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [threshold, setThreshold] = useState('20.00');
  const [amount, setAmount] = useState('50.00');
  const [cap, setCap] = useState('100.00');
  const [mobile, setMobile] = useState('');
  const card = props.card;

  useEffect(() => {
    if (!card || !props.online) return;
    let live = true;
    void props.load(card).then((outcome) => {
      if (!live) return;
      if (outcome.ok) setAgreement(outcome.value);
      else setFailure(outcome.code);
    });
    return () => {
      live = false;
    };
  }, [card?.id, props.online]);

  if (card === undefined) return <Page title={t('auto_title')} back="/">{null}</Page>;
  if (card === null) return <Page title={t('auto_title')} back="/"><ErrorText code="not_found" /></Page>;

  const checked = { threshold: checkAmount(threshold), amount: checkAmount(amount), cap: checkAmount(cap, Number.MAX_SAFE_INTEGER), mobile: checkMobile(mobile) };
  const live = agreement?.state === 'active' || agreement?.state === 'signing';

  async function sign(event: Event) {
    event.preventDefault();
    setFailure(null);
    if (!card || !checked.threshold.ok || !checked.amount.ok || !checked.cap.ok || !checked.mobile.ok) return setFailure('invalid_body');
    setBusy(true);
    const outcome = await props.sign(card, {
      threshold_fen: checked.threshold.value,
      amount_fen: checked.amount.value,
      daily_cap_fen: checked.cap.value,
      ...(checked.mobile.value ? { notify_phone: checked.mobile.value } : {}),
    });
    setBusy(false);
    if (!outcome.ok) return setFailure(outcome.code);
    (props.onSign ?? ((url: string) => location.assign(url)))(outcome.value);
  }

  async function cancel() {
    if (!card || !agreement) return;
    setBusy(true);
    const outcome = await props.cancel(card, agreement.agreement_id);
    setBusy(false);
    if (outcome.ok) setAgreement(outcome.value);
    else setFailure(outcome.code);
  }

  return (
    <Page title={t('auto_title')} back="/">
      <p class="quick-card">
        <strong>{card.school_name}</strong>
        <br />
        {card.holder_name_masked} · {card.card_no}
      </p>
      <p class="muted small">{t('auto_explain')}</p>
      {!props.online ? <ErrorText code="offline" /> : null}
      {agreement ? <AgreementView agreement={agreement} /> : null}
      <ErrorText code={failure} />
      {live ? (
        <div class="actions">
          <button type="button" class="button button-danger" disabled={busy || !props.online} onClick={() => void cancel()}>
            {t('auto_cancel')}
          </button>
        </div>
      ) : agreement !== undefined ? (
        <form class="form" onSubmit={sign} noValidate>
          <div class="field">
            <label for="auto-threshold">{t('auto_threshold')}</label>
            <input id="auto-threshold" inputMode="decimal" value={threshold} onInput={(event) => setThreshold(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="auto-amount">{t('auto_amount')}</label>
            <input id="auto-amount" inputMode="decimal" value={amount} onInput={(event) => setAmount(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="auto-cap">{t('auto_cap')}</label>
            <input id="auto-cap" inputMode="decimal" value={cap} onInput={(event) => setCap(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="auto-mobile">{t('mobile')}</label>
            <input id="auto-mobile" type="tel" inputMode="numeric" autocomplete="tel-national" maxLength={20} value={mobile} onInput={(event) => setMobile(event.currentTarget.value)} />
          </div>
          <button type="submit" class="button button-wide" disabled={busy || !props.online}>
            {t('auto_sign')}
          </button>
        </form>
      ) : null}
    </Page>
  );
}
