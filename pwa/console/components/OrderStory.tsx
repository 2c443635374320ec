// One order's whole story: the order, its provider notifications, the credit and the hub that
// owns it, the load onto the card (or the grey record of a load in doubt), refunds; and, while
// the money still waits in 待圈存, the refund that sends it back.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { ConsoleOrderStory, ConsoleRefund } from '../../../protocol/console.ts';
import { fenToYuan } from '../../../protocol/money.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n, type MessageKey } from '../i18n.ts';
import { pagePath } from '../router.ts';
import { ErrorText, Facts, Field, Link, Loading, Page, RefreshButton, Time, Yuan } from './common.tsx';
import { RefundBadge, TopupBadge } from './status.tsx';

interface Event {
  at_ms: number;
  /** The step's place in an order's life, for steps within one second of each other. */
  rank: number;
  key: string;
  title: ComponentChildren;
  detail?: ComponentChildren;
}

function storyEvents(story: ConsoleOrderStory, t: (key: MessageKey, params?: Record<string, string | number>) => string): Event[] {
  const events: Event[] = [{ at_ms: story.order.created_at_ms, rank: 0, key: 'created', title: t('story_created', { channel: t(`channel_${story.order.channel}`) }) }];
  for (const n of story.notifications) {
    events.push({
      at_ms: n.received_at_ms,
      rank: 2, key: `n${n.notification_id}`,
      title: t(`story_notification_${n.verdict}`),
      detail: n.reason ?? undefined,
    });
  }
  if (story.order.paid_at_ms !== null) events.push({ at_ms: story.order.paid_at_ms, rank: 1, key: 'paid', title: t('story_paid') });
  if (story.order.closed_at_ms !== null) events.push({ at_ms: story.order.closed_at_ms, rank: 9, key: 'closed', title: t('story_closed') });
  const credit = story.credit;
  if (credit !== null) {
    events.push({
      at_ms: credit.created_at_ms,
      rank: 3, key: 'credit',
      title: t('story_credit'),
      detail: credit.owning_hub_id ? t('story_owner', { hub: credit.owning_hub_id }) : t('story_no_owner'),
    });
    if (credit.void_requested_at_ms !== null) events.push({ at_ms: credit.void_requested_at_ms, rank: 5, key: 'void_req', title: t('story_void_requested') });
    if (credit.voided_at_ms !== null) events.push({ at_ms: credit.voided_at_ms, rank: 8, key: 'voided', title: t('story_voided') });
  }
  if (story.claim !== null) {
    const c = story.claim;
    events.push({
      at_ms: c.committed_at_ms,
      rank: 7, key: 'claim',
      title: t('story_claimed', { terminal: c.terminal_id, hub: c.hub_id }),
      detail: [
        c.balance_after_fen !== null ? t('story_balance_after', { yuan: fenToYuan(c.balance_after_fen) }) : null,
        c.proof_kind ? t('story_proof', { proof: t(`proof_${c.proof_kind}`) }) : null,
      ]
        .filter((part) => part !== null)
        .join(' · '),
    });
  }
  for (const g of story.grey_records) {
    events.push({ at_ms: g.reported_at_ms, rank: 6, key: `g${g.claim_id}`, title: t('story_grey', { terminal: g.terminal_id }), detail: t(`grey_${g.status}`) });
  }
  for (const r of story.refunds) {
    events.push({ at_ms: r.created_at_ms, rank: 4, key: `r${r.refund_id}`, title: t('story_refund_started'), detail: r.reason });
    if (r.refunded_at_ms !== undefined) events.push({ at_ms: r.refunded_at_ms, rank: 9, key: `rd${r.refund_id}`, title: t('story_refunded') });
    if (r.failed_at_ms !== undefined) events.push({ at_ms: r.failed_at_ms, rank: 9, key: `rf${r.refund_id}`, title: t('story_refund_failed'), detail: r.last_error });
  }
  if (story.order.refunded_at_ms !== null && !story.refunds.some((r) => r.refunded_at_ms !== undefined)) {
    events.push({ at_ms: story.order.refunded_at_ms, rank: 9, key: 'refunded', title: t('story_refunded') });
  }
  // Times come from several clocks (the provider's payment time has whole seconds): within one
  // second the order of an order's life decides.
  return events.sort((a, b) => Math.floor(a.at_ms / 1000) - Math.floor(b.at_ms / 1000) || a.rank - b.rank || a.at_ms - b.at_ms);
}

export function OrderStory(props: { order_id: string; story: Loaded<ConsoleOrderStory>; refund: (reason: string) => Promise<{ refund: ConsoleRefund | null; error: string | null }> }) {
  const { t } = useI18n();
  const story = props.story.value;
  return (
    <Page
      title={t('story_title', { order: props.order_id })}
      actions={
        <>
          <Link href={pagePath('orders')} class="button button-secondary">
            {t('back_to_orders')}
          </Link>
          <RefreshButton onClick={props.story.reload} />
        </>
      }
    >
      <Loading loading={props.story.loading && story === null} />
      <ErrorText code={props.story.error} />
      {story ? (
        <>
          <section class="panel" aria-labelledby="story-facts">
            <h2 id="story-facts">
              <Yuan amount_fen={story.order.amount_fen} /> <TopupBadge status={story.order.topup_status} testid="story-status" />
            </h2>
            <Facts
              items={[
                ['col_card', story.card ? `${story.order.card_no} · ${story.card.holder_name}` : story.order.card_no],
                ['col_channel', t(`channel_${story.order.channel}`) + (story.order.origin === 'auto' ? ` · ${t('origin_auto')}` : '')],
                ['col_provider_trade', story.order.provider_trade_no ?? '—'],
                ['col_phone', story.order.notify_phone_masked ?? '—'],
                ['col_created', <Time at_ms={story.order.created_at_ms} />],
                ['col_expires', <Time at_ms={story.order.expires_at_ms} />],
              ]}
            />
          </section>
          <section aria-labelledby="story-timeline">
            <h2 id="story-timeline">{t('story_timeline')}</h2>
            <ol class="timeline" data-testid="story-timeline">
              {storyEvents(story, t).map((event) => (
                <li key={event.key}>
                  <Time at_ms={event.at_ms} seconds /> <strong>{event.title}</strong>
                  {event.detail ? <div class="muted small">{event.detail}</div> : null}
                </li>
              ))}
            </ol>
          </section>
          {story.refunds.length > 0 ? (
            <section aria-labelledby="story-refunds">
              <h2 id="story-refunds">{t('nav_refunds')}</h2>
              <ul class="plain">
                {story.refunds.map((r) => (
                  <li key={r.refund_id} class="panel">
                    {r.refund_id} <RefundBadge state={r.state} testid="story-refund-state" /> <Yuan amount_fen={r.amount_fen} />
                    {r.route ? <span class="muted"> · {t(`refund_route_${r.route}`)}</span> : null}
                    {r.provider_status ? <span class="muted"> · {r.provider_status}</span> : null}
                    {r.last_error ? <div class="field-error">{r.last_error}</div> : null}
                  </li>
                ))}
              </ul>
            </section>
          ) : null}
          {story.credit?.state === 'pending' && story.order.status === 'paid' && story.credit.void_requested_at_ms === null ? (
            <RefundForm
              refund={async (reason) => {
                const outcome = await props.refund(reason);
                if (outcome.error === null) props.story.reload();
                return outcome.error;
              }}
            />
          ) : null}
          {story.credit?.state === 'claimed' ? <p class="note">{t('story_no_refund_claimed')}</p> : null}
        </>
      ) : null}
    </Page>
  );
}

function RefundForm({ refund }: { refund: (reason: string) => Promise<string | null> }) {
  const { t } = useI18n();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="panel form"
      aria-labelledby="refund-title"
      onSubmit={async (event) => {
        event.preventDefault();
        if (!confirm(t('refund_confirm'))) return;
        setBusy(true);
        setError(await refund(reason.trim()));
        setBusy(false);
      }}
    >
      <h2 id="refund-title">{t('refund_start_title')}</h2>
      <p class="muted">{t('refund_start_help')}</p>
      <Field id="refund-reason" label={t('refund_reason')}>
        <input id="refund-reason" required maxLength={200} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      <ErrorText code={error} />
      <button type="submit" class="button button-danger" disabled={busy || reason.trim() === ''}>
        {t('refund_submit')}
      </button>
    </form>
  );
}

