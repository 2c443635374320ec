// First top-up of a card: school, holder name, card number (with a hint per kind and a preview
// of the number that will be matched), amount, optional mobile, terms, then the cashier.
import type { Channel, School } from '../../../protocol/api.ts';
import type { CardKind } from '../../../protocol/card.ts';
import { AMOUNT_FEN_DEFAULT, MAX_AMOUNT_FEN_DEFAULT, fenToYuan } from '../../../protocol/money.ts';
import { useEffect, useState } from 'preact/hooks';
import type { NewCardTopup, Outcome } from '../data/actions.ts';
import { checkAmount, checkCardNo, checkMobile, checkName } from '../form.ts';
import { useI18n } from '../i18n.ts';
import { AmountPicker, ChannelPicker, PayButton } from './AmountPicker.tsx';
import { Link, Page } from './common.tsx';
import { SchoolPicker } from './SchoolPicker.tsx';

interface Draft {
  school: School | null;
  name: string;
  card_text: string;
  kind: CardKind;
  amount_text: string;
  mobile: string;
  agree: boolean;
  channel: Channel;
}

function emptyDraft(): Draft {
  return {
    school: null,
    name: '',
    card_text: '',
    kind: 'student',
    amount_text: fenToYuan(AMOUNT_FEN_DEFAULT),
    mobile: '',
    agree: false,
    channel: 'alipay',
  };
}

// Kept while the app is open, so reading the terms and coming back loses nothing.
let draft: Draft = emptyDraft();

export function resetTopupDraft(): void {
  draft = emptyDraft();
}

export function TopupForm(props: {
  online: boolean;
  loadSchools: () => Promise<Outcome<School[]>>;
  /** Creates the order; its value is the cashier's pay_url. */
  start: (input: NewCardTopup) => Promise<Outcome<string>>;
  onPay?: (pay_url: string) => void;
}) {
  const { t } = useI18n();
  const [form, setForm] = useState<Draft>(draft);
  const [picking, setPicking] = useState(false);
  const [schools, setSchools] = useState<School[] | null>(null);
  const [schoolsFailure, setSchoolsFailure] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    draft = form;
  }, [form]);
  useEffect(() => {
    let live = true;
    void props.loadSchools().then((outcome) => {
      if (!live) return;
      if (outcome.ok) setSchools(outcome.value);
      else setSchoolsFailure(outcome.code);
    });
    return () => {
      live = false;
    };
  }, []);

  const update = (changes: Partial<Draft>) => setForm((previous) => ({ ...previous, ...changes }));
  const max_amount_fen = form.school?.max_amount_fen ?? MAX_AMOUNT_FEN_DEFAULT;
  const name = checkName(form.name);
  const card = checkCardNo(form.card_text);
  const amount = checkAmount(form.amount_text, max_amount_fen);
  const mobile = checkMobile(form.mobile);
  const valid = form.school !== null && name.ok && card.ok && amount.ok && mobile.ok && form.agree;

  async function submit(event: Event) {
    event.preventDefault();
    setSubmitted(true);
    setFailure(null);
    if (!props.online) return setFailure('offline');
    if (!valid || form.school === null || !name.ok || !card.ok || !amount.ok || !mobile.ok) return;
    setBusy(true);
    const outcome = await props.start({
      school: form.school,
      name: name.value,
      card_no: card.value,
      amount_fen: amount.value,
      channel: form.channel,
      agree_terms: form.agree,
      ...(mobile.value !== undefined ? { notify_phone: mobile.value } : {}),
    });
    if (!outcome.ok) {
      setFailure(outcome.code);
      setBusy(false);
      return;
    }
    resetTopupDraft();
    (props.onPay ?? ((url: string) => location.assign(url)))(outcome.value);
  }

  if (picking) {
    return (
      <SchoolPicker
        schools={schools}
        failure={schoolsFailure}
        selected_id={form.school?.id ?? null}
        onPick={(school) => {
          update({ school });
          setPicking(false);
        }}
        onClose={() => setPicking(false)}
      />
    );
  }

  return (
    <Page title={t('form_title')} back="/">
      <form class="form" onSubmit={submit} noValidate>
        <div class="field">
          <span class="label" id="school-label">
            {t('school')}
          </span>
          <button type="button" class="select" aria-labelledby="school-label school-value" onClick={() => setPicking(true)}>
            <span id="school-value">{form.school?.name ?? t('school_choose')}</span>
            <span aria-hidden="true">›</span>
          </button>
          {submitted && form.school === null ? (
            <p class="field-error" role="alert">
              {t('school_choose')}
            </p>
          ) : null}
        </div>

        <div class="field">
          <label for="holder-name">{t('name')}</label>
          <input
            id="holder-name"
            name="name"
            autocomplete="name"
            value={form.name}
            maxLength={64}
            aria-describedby="holder-name-hint"
            aria-invalid={submitted && !name.ok}
            onInput={(event) => update({ name: event.currentTarget.value })}
          />
          <p class="field-hint" id="holder-name-hint">
            {submitted && !name.ok ? t(name.error) : t('name_hint')}
          </p>
        </div>

        <fieldset class="field">
          <legend>{t('card_kind_question')}</legend>
          <div class="choices">
            {(['student', 'staff', 'visitor'] as const).map((kind) => (
              <label key={kind} class="choice">
                <input type="radio" name="kind" value={kind} checked={form.kind === kind} onChange={() => update({ kind })} />
                <span>{t(`kind_${kind}`)}</span>
              </label>
            ))}
          </div>
        </fieldset>

        <div class="field">
          <label for="card-no">{t('card_no')}</label>
          <input
            id="card-no"
            name="card_no"
            autocomplete="off"
            autocapitalize="characters"
            spellcheck={false}
            value={form.card_text}
            maxLength={64}
            aria-describedby="card-no-hint card-no-preview"
            aria-invalid={(submitted || form.card_text !== '') && !card.ok}
            onInput={(event) => update({ card_text: event.currentTarget.value })}
          />
          <p class="field-hint" id="card-no-hint">
            {t(`card_hint_${form.kind}`)}
          </p>
          <p class={card.ok ? 'field-preview' : 'field-error'} id="card-no-preview" aria-live="polite" data-testid="card-preview">
            {card.ok ? t('card_preview', { card_no: card.value }) : form.card_text !== '' || submitted ? t(card.error) : ''}
          </p>
        </div>

        <AmountPicker text={form.amount_text} onChange={(amount_text) => update({ amount_text })} max_amount_fen={max_amount_fen} touched={submitted} />

        <ChannelPicker value={form.channel} onChange={(channel) => update({ channel })} />

        <div class="field">
          <label for="mobile">{t('mobile')}</label>
          <input
            id="mobile"
            name="mobile"
            type="tel"
            inputMode="numeric"
            autocomplete="tel-national"
            value={form.mobile}
            maxLength={20}
            aria-invalid={!mobile.ok}
            aria-describedby={!mobile.ok ? 'mobile-error' : undefined}
            onInput={(event) => update({ mobile: event.currentTarget.value })}
          />
          {!mobile.ok && (submitted || form.mobile.replace(/\D/g, '').length >= 11) ? (
            <p class="field-error" id="mobile-error" role="alert">
              {t(mobile.error)}
            </p>
          ) : null}
        </div>

        <div class="field field-terms">
          <input id="agree" type="checkbox" checked={form.agree} onChange={(event) => update({ agree: event.currentTarget.checked })} />
          <label for="agree">
            {t('terms_agree')} <Link href="/terms">{t('terms_link')}</Link>
          </label>
          {submitted && !form.agree ? (
            <p class="field-error" role="alert">
              {t('terms_required')}
            </p>
          ) : null}
        </div>

        <PayButton online={props.online} busy={busy} failure={failure} amount={amount} />
      </form>
    </Page>
  );
}
