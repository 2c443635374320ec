// The day at a glance: today's top-ups, money waiting in 待圈存 and for how long, the hubs'
// health, yesterday's reconciliation, and what needs the card office (grey records, failed
// refunds, dead notices).
import type { ConsoleOverview } from '../../../protocol/console.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { pagePath } from '../router.ts';
import { Age, Badge, ErrorText, Link, Loading, Page, RefreshButton, Time, Yuan } from './common.tsx';

export function Overview({ overview }: { overview: Loaded<ConsoleOverview> }) {
  const { t } = useI18n();
  const o = overview.value;
  return (
    <Page title={t('nav_overview')} actions={<RefreshButton onClick={overview.reload} />}>
      <Loading loading={overview.loading && o === null} />
      <ErrorText code={overview.error} />
      {o ? (
        <>
          <div class="tiles">
            <section class="tile" aria-labelledby="tile-today">
              <h2 id="tile-today">{t('overview_today', { date: o.today })}</h2>
              <p class="tile-figure" data-testid="overview-today">
                <Yuan amount_fen={o.today_paid_fen} />
              </p>
              <p class="muted">{t('overview_count', { n: o.today_paid_count })}</p>
            </section>
            <section class="tile" aria-labelledby="tile-pending">
              <h2 id="tile-pending">{t('overview_pending')}</h2>
              <p class="tile-figure" data-testid="overview-pending">
                <Yuan amount_fen={o.pending_fen} />
              </p>
              <p class="muted">
                {t('overview_count', { n: o.pending_count })}
                {o.oldest_pending_age_ms !== null ? (
                  <>
                    {' · '}
                    {t('overview_oldest')} <Age age_ms={o.oldest_pending_age_ms} />
                  </>
                ) : null}
              </p>
              <Link href={pagePath('pending')}>{t('overview_to_pending')}</Link>
            </section>
            <section class="tile" aria-labelledby="tile-attention">
              <h2 id="tile-attention">{t('overview_attention')}</h2>
              <ul class="plain">
                <li>
                  <Link href={pagePath('grey')}>{t('overview_grey', { n: o.open_grey_records })}</Link>
                </li>
                <li>
                  <Link href={pagePath('refunds')}>{t('overview_failed_refunds', { n: o.failed_refunds })}</Link>
                </li>
                <li>
                  <Link href={pagePath('notices')}>{t('overview_dead_notices', { n: o.dead_notices })}</Link>
                </li>
              </ul>
            </section>
          </div>
          <section aria-labelledby="overview-hubs">
            <h2 id="overview-hubs">{t('overview_hubs')}</h2>
            {o.hubs.length === 0 ? <p class="empty">{t('hubs_none')}</p> : null}
            <ul class="plain hub-health">
              {o.hubs.map((hub) => (
                <li key={hub.hub_id} class="panel">
                  <strong>{hub.hub_id}</strong> <Badge tone="neutral">{t(`hub_state_${hub.state}`)}</Badge> <Badge tone={hub.healthy ? 'ok' : 'bad'}>{hub.healthy ? t('hub_healthy') : t('hub_unhealthy')}</Badge>
                  <span class="muted">
                    {' '}
                    {t('hub_last_seen')} <Time at_ms={hub.last_seen_at_ms} /> · {t('hub_lag', { n: hub.sync_lag })}
                  </span>
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="overview-recon">
            <h2 id="overview-recon">{t('overview_yesterday', { date: o.yesterday })}</h2>
            {o.yesterday_reconciliation.length === 0 ? <p class="empty">{t('recon_not_yet')}</p> : null}
            <ul class="plain">
              {o.yesterday_reconciliation.map((day) => (
                <li key={day.channel}>
                  {t(`channel_${day.channel}`)} <ReconStatus status={day.status} />{' '}
                  {day.discrepancy_count > 0 ? t('recon_discrepancy_count', { n: day.discrepancy_count }) : null}
                </li>
              ))}
            </ul>
            <Link href={pagePath('reconciliation')}>{t('overview_to_recon')}</Link>
          </section>
        </>
      ) : null}
    </Page>
  );
}

export function ReconStatus({ status }: { status: 'balanced' | 'discrepancies' | 'pending' }) {
  const { t } = useI18n();
  const tone = status === 'balanced' ? 'ok' : status === 'discrepancies' ? 'bad' : 'neutral';
  return <Badge tone={tone}>{t(`recon_${status}`)}</Badge>;
}
