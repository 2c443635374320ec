// Reconciliation by day and channel: the provider's bill against our ledger, fees, the net
// the school is paid, each discrepancy, and a re-run (which changes nothing on a settled day).
import { useState } from 'preact/hooks';
import type { ConsoleReconciliationDay } from '../../../protocol/console.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { orderPath } from '../router.ts';
import { ErrorText, Field, Link, Loading, Page, Yuan } from './common.tsx';
import { ReconStatus } from './Overview.tsx';

export function Reconciliation(props: {
  range: { from?: string; to?: string };
  onRange: (range: { from?: string; to?: string }) => void;
  days: Loaded<{ days: ConsoleReconciliationDay[] }>;
  rerun: (date: string) => Promise<string | null>;
  yesterday: string;
}) {
  const { t } = useI18n();
  const [from, setFrom] = useState(props.range.from ?? '');
  const [to, setTo] = useState(props.range.to ?? '');
  const [date, setDate] = useState(props.yesterday);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rerun = async (day: string) => {
    setBusy(day);
    setError(await props.rerun(day));
    setBusy(null);
    props.days.reload();
  };
  const days = props.days.value?.days ?? [];
  const dates = [...new Set(days.map((d) => d.bill_date))];
  return (
    <Page title={t('nav_reconciliation')}>
      <div class="row">
        <form
          class="filters panel"
          onSubmit={(event) => {
            event.preventDefault();
            props.onRange({ from: from || undefined, to: to || undefined });
          }}
        >
          <Field id="recon-from" label={t('recon_from')}>
            <input id="recon-from" type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
          </Field>
          <Field id="recon-to" label={t('recon_to')}>
            <input id="recon-to" type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
          </Field>
          <div class="filters-actions">
            <button type="submit" class="button button-secondary">
              {t('search')}
            </button>
          </div>
        </form>
        <form
          class="filters panel"
          onSubmit={(event) => {
            event.preventDefault();
            if (date !== '') void rerun(date);
          }}
        >
          <Field id="recon-date" label={t('recon_run_date')}>
            <input id="recon-date" type="date" required value={date} onInput={(e) => setDate(e.currentTarget.value)} />
          </Field>
          <div class="filters-actions">
            <button type="submit" class="button" disabled={busy !== null}>
              {busy === date ? t('recon_running') : t('recon_run')}
            </button>
          </div>
        </form>
      </div>
      <ErrorText code={error ?? props.days.error} />
      <Loading loading={props.days.loading && props.days.value === null} />
      {props.days.value && days.length === 0 ? <p class="empty">{t('recon_none')}</p> : null}
      {dates.map((bill_date) => (
        <section class="panel recon-day" key={bill_date} aria-labelledby={`recon-${bill_date}`} data-date={bill_date}>
          <div class="page-head">
            <h2 id={`recon-${bill_date}`}>{bill_date}</h2>
            <button type="button" class="button button-secondary button-small" disabled={busy !== null} onClick={() => void rerun(bill_date)}>
              {busy === bill_date ? t('recon_running') : t('recon_rerun', { date: bill_date })}
            </button>
          </div>
          {days
            .filter((d) => d.bill_date === bill_date)
            .map((d) => (
              <div class="recon-channel" key={d.channel} data-channel={d.channel}>
                <h3>
                  {t(`channel_${d.channel}`)} <ReconStatus status={d.status} />
                </h3>
                <dl class="facts">
                  <div class="fact">
                    <dt>{t('recon_bill_total')}</dt>
                    <dd>
                      <Yuan amount_fen={d.bill_total_fen} />
                    </dd>
                  </div>
                  <div class="fact">
                    <dt>{t('recon_ours_total')}</dt>
                    <dd>
                      <Yuan amount_fen={d.ours_total_fen} />
                    </dd>
                  </div>
                  <div class="fact">
                    <dt>{t('recon_fee')}</dt>
                    <dd>
                      <Yuan amount_fen={d.fee_fen} />
                    </dd>
                  </div>
                  <div class="fact">
                    <dt>{t('recon_net')}</dt>
                    <dd>
                      <Yuan amount_fen={d.net_fen} />
                    </dd>
                  </div>
                </dl>
                {d.error ? <p class="field-error">{d.error}</p> : null}
                {d.discrepancies.length > 0 ? (
                  <ul class="discrepancies">
                    {d.discrepancies.map((x, i) => (
                      <li key={i}>
                        <strong>{t('recon_kind', { kind: x.kind })}</strong> {x.order_id ? <Link href={orderPath(x.order_id)}>{x.order_id}</Link> : null}{' '}
                        {x.provider_trade_no ? <code>{x.provider_trade_no}</code> : null} <span class="muted">{x.detail}</span>
                      </li>
                    ))}
                  </ul>
                ) : null}
              </div>
            ))}
        </section>
      ))}
    </Page>
  );
}
