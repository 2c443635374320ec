// Grey records: loads a terminal began but never confirmed (it died after writing the card, or
// before). The card office reads the card in a reader and settles each: loaded (the credits
// are claimed, the decision is the proof) or not loaded (the money stays pending for the card).
import { useState } from 'preact/hooks';
import type { ConsoleGreyRecord, ConsoleGreySettleRequest } from '../../../protocol/console.ts';
import { yuanToFen } from '../../../protocol/money.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { Badge, ErrorText, Field, Filters, Page, Paged, Time, Yuan } from './common.tsx';

export function GreyRecords(props: {
  state: 'open' | 'resolved' | 'all';
  onState: (state: 'open' | 'resolved' | 'all') => void;
  pages: CursorPages<ConsoleGreyRecord>;
  settle: (grey_id: string, settlement: ConsoleGreySettleRequest) => Promise<string | null>;
}) {
  const { t } = useI18n();
  return (
    <Page title={t('nav_grey')}>
      <p class="muted">{t('grey_intro')}</p>
      <Filters onRefresh={props.pages.reload}>
        <Field id="grey-state" label={t('filter_state')}>
          <select id="grey-state" value={props.state} onChange={(e) => props.onState(e.currentTarget.value as 'open' | 'resolved' | 'all')}>
            <option value="open">{t('grey_open')}</option>
            <option value="resolved">{t('grey_resolved')}</option>
            <option value="all">{t('filter_all')}</option>
          </select>
        </Field>
      </Filters>
      <Paged pages={props.pages}>
        {(page) => (
          <>
            {page.rows.length === 0 ? <p class="empty">{t('table_empty')}</p> : null}
            <ul class="plain grey-list" data-testid="grey-list">
              {page.rows.map((record) => (
                <li key={record.grey_id} class="panel" data-grey-id={record.grey_id}>
                  <GreyRecordItem
                    record={record}
                    settle={async (settlement) => {
                      const error = await props.settle(record.grey_id, settlement);
                      if (error === null) props.pages.reload();
                      return error;
                    }}
                  />
                </li>
              ))}
            </ul>
          </>
        )}
      </Paged>
    </Page>
  );
}

function GreyRecordItem({ record, settle }: { record: ConsoleGreyRecord; settle: (settlement: ConsoleGreySettleRequest) => Promise<string | null> }) {
  const { t } = useI18n();
  const [decision, setDecision] = useState<'loaded' | 'not_loaded' | ''>('');
  const [evidence, setEvidence] = useState('');
  const [balance, setBalance] = useState('');
  const [serial, setSerial] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = record.grey_id.replace(/[^A-Za-z0-9_-]/g, '_');
  const balance_fen = balance.trim() === '' ? undefined : yuanToFen(balance);
  const serial_no = serial.trim() === '' ? undefined : /^[0-9]{1,5}$/.test(serial.trim()) && Number(serial) <= 0xffff ? Number(serial) : null;
  const valid = decision !== '' && evidence.trim() !== '' && balance_fen !== null && serial_no !== null;
  return (
    <>
      <h2 class="grey-head">
        <span>
          {t('col_card')} {record.card_no} · <Yuan amount_fen={record.amount_fen} />
        </span>{' '}
        <Badge tone={record.status === 'open' ? 'warn' : 'ok'} testid="grey-status">
          {t(`grey_${record.status}`)}
        </Badge>
      </h2>
      <p class="muted small">
        {t('grey_where', { terminal: record.terminal_id, hub: record.hub_id, serial: record.online_serial_after })} · {t('grey_reserved')}{' '}
        <Time at_ms={record.reserved_at_ms} /> · {t('grey_reported')} <Time at_ms={record.reported_at_ms} />
      </p>
      {record.decision ? (
        <p data-testid="grey-decision">
          {t(`grey_decision_${record.decision.decision}`)} — {record.decision.evidence} ({record.decision.operator_id}, <Time at_ms={record.decision.at_ms} />)
        </p>
      ) : null}
      {record.status === 'open' ? (
        <form
          class="form"
          aria-label={t('grey_settle_title', { card: record.card_no })}
          onSubmit={async (event) => {
            event.preventDefault();
            if (!valid) return;
            setBusy(true);
            setError(
              await settle({
                decision,
                evidence: evidence.trim(),
                ...(balance_fen !== undefined && balance_fen !== null ? { balance_fen } : {}),
                ...(serial_no !== undefined && serial_no !== null ? { online_serial: serial_no } : {}),
              }),
            );
            setBusy(false);
          }}
        >
          <fieldset class="field">
            <legend>{t('grey_decision')}</legend>
            <div class="choices">
              <label class="choice">
                <input type="radio" name={`decision-${id}`} value="loaded" checked={decision === 'loaded'} onChange={() => setDecision('loaded')} />
                {t('grey_decision_loaded')}
              </label>
              <label class="choice">
                <input type="radio" name={`decision-${id}`} value="not_loaded" checked={decision === 'not_loaded'} onChange={() => setDecision('not_loaded')} />
                {t('grey_decision_not_loaded')}
              </label>
            </div>
          </fieldset>
          <div class="row">
            <Field id={`evidence-${id}`} label={t('grey_evidence')} hint={t('grey_evidence_hint')}>
              <input id={`evidence-${id}`} required maxLength={1000} value={evidence} onInput={(e) => setEvidence(e.currentTarget.value)} aria-describedby={`evidence-${id}-hint`} />
            </Field>
            <Field id={`balance-${id}`} label={t('grey_balance')}>
              <input id={`balance-${id}`} inputMode="decimal" value={balance} onInput={(e) => setBalance(e.currentTarget.value)} aria-invalid={balance_fen === null} />
            </Field>
            <Field id={`serial-${id}`} label={t('grey_serial')}>
              <input id={`serial-${id}`} inputMode="numeric" value={serial} onInput={(e) => setSerial(e.currentTarget.value)} aria-invalid={serial_no === null} />
            </Field>
          </div>
          <ErrorText code={error} />
          <button type="submit" class="button" disabled={busy || !valid}>
            {t('grey_settle')}
          </button>
        </form>
      ) : null}
    </>
  );
}
