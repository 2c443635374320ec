// Amount: presets and a custom field, default 100.00, checked against the school's maximum.
import { fenToYuan } from '../../../protocol/money.ts';
import { AMOUNT_PRESETS_FEN, checkAmount, type Checked } from '../form.ts';
import { useI18n } from '../i18n.ts';
import { ErrorText } from './common.tsx';

export function AmountPicker(props: { text: string; onChange: (text: string) => void; max_amount_fen: number; touched: boolean }) {
  const { t } = useI18n();
  const presets = AMOUNT_PRESETS_FEN.filter((amount_fen) => amount_fen <= props.max_amount_fen);
  const isPreset = presets.some((amount_fen) => fenToYuan(amount_fen) === props.text);
  const checked = checkAmount(props.text, props.max_amount_fen);
  const showError = !checked.ok && (props.touched || (!isPreset && props.text !== ''));
  return (
    <fieldset class="field">
      <legend>{t('amount')}</legend>
      <div class="presets">
        {presets.map((amount_fen) => {
          const text = fenToYuan(amount_fen);
          return (
            <button key={amount_fen} type="button" class="preset" aria-pressed={props.text === text} onClick={() => props.onChange(text)}>
              {text}
            </button>
          );
        })}
      </div>
      <label class="field-sub" for="amount-custom">
        {t('amount_custom_label')}
      </label>
      <input
        id="amount-custom"
        name="amount"
        inputMode="decimal"
        autocomplete="off"
        value={props.text}
        aria-invalid={showError}
        aria-describedby={showError ? 'amount-error' : undefined}
        onInput={(event) => props.onChange(event.currentTarget.value)}
      />
      {showError && !checked.ok ? (
        <p class="field-error" id="amount-error" role="alert">
          {t(checked.error, checked.params)}
        </p>
      ) : null}
    </fieldset>
  );
}

export function ChannelPicker(props: { value: 'alipay' | 'wechat'; onChange: (channel: 'alipay' | 'wechat') => void }) {
  const { t } = useI18n();
  return (
    <fieldset class="field">
      <legend>{t('channel')}</legend>
      <div class="choices">
        {(['alipay', 'wechat'] as const).map((channel) => (
          <label key={channel} class="choice">
            <input type="radio" name="channel" value={channel} checked={props.value === channel} onChange={() => props.onChange(channel)} />
            <span>{t(`channel_${channel}`)}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** The end of both top-up forms: why paying is off while offline, the refusal, and 充值 ¥amount. */
export function PayButton(props: { online: boolean; busy: boolean; failure: string | null; amount: Checked<number> }) {
  const { t } = useI18n();
  return (
    <>
      {!props.online ? (
        <p class="note" id="pay-offline">
          {t('pay_disabled_offline')}
        </p>
      ) : null}
      <ErrorText code={props.failure} />
      <button
        type="submit"
        class="button button-wide"
        disabled={props.busy || !props.online}
        aria-describedby={!props.online ? 'pay-offline' : undefined}
      >
        {props.busy ? t('submitting') : props.amount.ok ? `${t('submit')} ¥${fenToYuan(props.amount.value)}` : t('submit')}
      </button>
    </>
  );
}
