// The school's hubs: state, health, how far each is behind the school's changes, last contact,
// the pending credits each owns (only the owner may load or void them), and the card office's
// handover: activate a standby, retire, mark retired once drained, declare dead, each confirmed
// with a reason for the audit trail. A dead hub's frozen credits are settled one by one, with
// what a reader shows on the card as evidence.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleCreditSettleRequest, ConsoleFrozenCredit, ConsoleHub } from '../../../protocol/console.ts';
import { fenToYuan } from '../../../protocol/money.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { Badge, ErrorText, Field, Loading, Page, RefreshButton, Table, Time, Yuan, type Column } from './common.tsx';

type HubState = ConsoleHub['state'];
type SetState = (hub_id: string, state: HubState, reason: string) => Promise<string | null>;
type Settle = (credit_id: string, settlement: ConsoleCreditSettleRequest) => Promise<string | null>;

const STATE_TONE: Record<HubState, 'ok' | 'warn' | 'bad' | 'neutral' | 'info'> = {
  active: 'ok',
  standby: 'info',
  retiring: 'warn',
  retired: 'neutral',
  dead: 'bad',
};

/** The buttons a hub shows: what the fleet rules allow, retired only once a retiring hub is drained. */
function actionsFor(hub: ConsoleHub): HubState[] {
  return hub.transitions.filter((to) => !(to === 'retired' && hub.state === 'retiring' && hub.drained_at_ms === null));
}

export function Hubs(props: { hubs: Loaded<{ hubs: ConsoleHub[] }>; setState: SetState; settle: Settle }) {
  const { t } = useI18n();
  const { hubs } = props;
  const [asking, setAsking] = useState<{ hub: ConsoleHub; to: HubState } | null>(null);
  const columns: Column<ConsoleHub>[] = [
    { label: 'col_hub', render: (h) => h.hub_id },
    {
      label: 'col_hub_state',
      render: (h) => (
        <>
          <Badge tone={STATE_TONE[h.state]} testid="hub-state">
            {t(`hub_state_${h.state}`)}
          </Badge>
          {h.drained_at_ms !== null ? (
            <span class="muted small">
              {' '}
              {t('hub_drained')} <Time at_ms={h.drained_at_ms} />
            </span>
          ) : h.state === 'retiring' ? (
            <span class="muted small"> {t('hub_waiting_drain')}</span>
          ) : null}
        </>
      ),
    },
    { label: 'col_health', render: (h) => <Badge tone={h.healthy ? 'ok' : 'bad'}>{h.healthy ? t('hub_healthy') : t('hub_unhealthy')}</Badge> },
    { label: 'col_last_seen', render: (h) => <Time at_ms={h.last_seen_at_ms} /> },
    { label: 'col_sync_lag', numeric: true, render: (h) => h.sync_lag },
    { label: 'col_outbox', render: (h) => t('hub_feed', { cursor: h.durable_cursor ?? h.last_cursor ?? '—', sent: h.sent_through_seq ?? '—', head: h.feed_head_seq }) },
    {
      label: 'col_owned',
      numeric: true,
      render: (h) => (
        <span class="nowrap">
          {h.pending_credits_owned} · <Yuan amount_fen={h.pending_owned_fen} />
        </span>
      ),
    },
    {
      label: 'col_actions',
      render: (h) => (
        <span class="actions-inline">
          {actionsFor(h).map((to) => (
            <button key={to} type="button" class={`button button-small ${to === 'dead' ? 'button-danger' : 'button-secondary'}`} data-testid={`hub-to-${to}`} onClick={() => setAsking({ hub: h, to })}>
              {t(`hub_to_${to}`)}
            </button>
          ))}
        </span>
      ),
    },
  ];
  const frozen = hubs.value?.hubs.filter((h) => h.state === 'dead' && h.frozen_credits.length > 0) ?? [];
  return (
    <Page title={t('nav_hubs')} actions={<RefreshButton onClick={hubs.reload} />}>
      <p class="muted">{t('hubs_intro')}</p>
      <ErrorText code={hubs.error} />
      <Loading loading={hubs.loading && hubs.value === null} />
      {hubs.value ? <Table caption={t('nav_hubs')} columns={columns} rows={hubs.value.hubs} rowKey={(h) => h.hub_id} empty="hubs_none" testid="hubs-table" /> : null}
      {frozen.map((hub) => (
        <section key={hub.hub_id} class="panel" data-testid="hub-frozen" aria-label={t('hub_frozen_title', { hub: hub.hub_id })}>
          <h2>{t('hub_frozen_title', { hub: hub.hub_id })}</h2>
          <p class="muted">{t('hub_frozen_intro')}</p>
          <ul class="plain">
            {hub.frozen_credits.map((credit) => (
              <li key={credit.credit_id}>
                <FrozenCreditForm
                  credit={credit}
                  settle={async (settlement) => {
                    const error = await props.settle(credit.credit_id, settlement);
                    if (error === null) hubs.reload();
                    return error;
                  }}
                />
              </li>
            ))}
          </ul>
        </section>
      ))}
      {asking ? (
        <StateDialog
          hub={asking.hub}
          to={asking.to}
          onClose={() => setAsking(null)}
          confirm={async (reason) => {
            const error = await props.setState(asking.hub.hub_id, asking.to, reason);
            if (error === null) {
              setAsking(null);
              hubs.reload();
            }
            return error;
          }}
        />
      ) : null}
    </Page>
  );
}

function StateDialog(props: { hub: ConsoleHub; to: HubState; onClose: () => void; confirm: (reason: string) => Promise<string | null> }) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
  }, []);
  const action = t(`hub_to_${props.to}`);
  return (
    <dialog ref={ref} class="dialog" data-testid="hub-state-dialog" aria-labelledby="hub-dialog-title" onClose={props.onClose}>
      <form
        class="form"
        method="dialog"
        onSubmit={async (event) => {
          event.preventDefault();
          if (reason.trim() === '') return;
          setBusy(true);
          setError(await props.confirm(reason.trim()));
          setBusy(false);
        }}
      >
        <h2 id="hub-dialog-title">{t('hub_confirm_title', { hub: props.hub.hub_id, action })}</h2>
        <p>{t(`hub_confirm_help_${props.to}`)}</p>
        <Field id="hub-reason" label={t('hub_reason')} hint={t('hub_reason_hint')}>
          <input id="hub-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} aria-describedby="hub-reason-hint" />
        </Field>
        <ErrorText code={error} />
        <div class="row">
          <button type="submit" class={`button ${props.to === 'dead' ? 'button-danger' : ''}`} disabled={busy || reason.trim() === ''}>
            {t('hub_confirm')}
          </button>
          <button type="button" class="button button-secondary" onClick={() => ref.current?.close()}>
            {t('cancel')}
          </button>
        </div>
      </form>
    </dialog>
  );
}

function FrozenCreditForm({ credit, settle }: { credit: ConsoleFrozenCredit; settle: (settlement: ConsoleCreditSettleRequest) => Promise<string | null> }) {
  const { t } = useI18n();
  const [decision, setDecision] = useState<'claimed' | 'release' | ''>('');
  const [evidence, setEvidence] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = credit.credit_id.replace(/[^A-Za-z0-9_-]/g, '_');
  const valid = decision !== '' && evidence.trim() !== '';
  return (
    <form
      class="form"
      data-credit-id={credit.credit_id}
      aria-label={t('credit_settle_title', { card: credit.card_no, amount: `¥${fenToYuan(credit.amount_fen)}` })}
      onSubmit={async (event) => {
        event.preventDefault();
        if (!valid) return;
        setBusy(true);
        setError(await settle({ decision, evidence: evidence.trim() }));
        setBusy(false);
      }}
    >
      <p>
        {t('col_card')} {credit.card_no} · <Yuan amount_fen={credit.amount_fen} /> · <Time at_ms={credit.created_at_ms} />
      </p>
      <div class="choices">
        <label class="choice">
          <input type="radio" name={`settle-${id}`} value="claimed" checked={decision === 'claimed'} onChange={() => setDecision('claimed')} />
          {t('credit_settle_claimed')}
        </label>
        <label class="choice">
          <input type="radio" name={`settle-${id}`} value="release" checked={decision === 'release'} onChange={() => setDecision('release')} />
          {t('credit_settle_release')}
        </label>
      </div>
      <Field id={`settle-evidence-${id}`} label={t('credit_settle_evidence')} hint={t('credit_settle_evidence_hint')}>
        <input id={`settle-evidence-${id}`} required maxLength={2000} value={evidence} onInput={(e) => setEvidence(e.currentTarget.value)} aria-describedby={`settle-evidence-${id}-hint`} />
      </Field>
      <ErrorText code={error} />
      <button type="submit" class="button" disabled={busy || !valid}>
        {t('credit_settle_submit')}
      </button>
    </form>
  );
}
