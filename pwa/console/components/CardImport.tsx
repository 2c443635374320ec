// Registry import: a CSV file (card_no,name,kind,status,asn) sent whole, with the upload's
// progress, then what was imported and every rejected line with its reason.
import { useState } from 'preact/hooks';
import type { CardImportResponse } from '../../../protocol/api.ts';
import type { ImportProgress } from '../data/api.ts';
import { useI18n } from '../i18n.ts';
import { pagePath } from '../router.ts';
import { ErrorText, Field, Link, Page, Table } from './common.tsx';

// Rejected lines shown at a time; the operator asks for more (a file may reject thousands).
const REJECTED_SHOWN_STEP = 200;

export function CardImport(props: { importCards: (file: Blob, onProgress: (progress: ImportProgress) => void) => Promise<{ result: CardImportResponse | null; error: string | null }> }) {
  const { t } = useI18n();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<ImportProgress | null>(null);
  const [phase, setPhase] = useState<'idle' | 'sending' | 'checking' | 'done'>('idle');
  const [result, setResult] = useState<CardImportResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [shown, setShown] = useState(REJECTED_SHOWN_STEP);
  const busy = phase === 'sending' || phase === 'checking';
  const percent = progress && progress.total_bytes > 0 ? Math.round((progress.sent_bytes / progress.total_bytes) * 100) : 0;

  return (
    <Page
      title={t('nav_cards_import')}
      actions={
        <Link href={pagePath('cards')} class="button button-secondary">
          {t('nav_cards')}
        </Link>
      }
    >
      <p class="muted">{t('import_intro')}</p>
      <pre class="sample" aria-label={t('import_sample')}>
        card_no,name,kind,status,asn{'\n'}20230001,张三,student,active,0123456789ABCDEF
      </pre>
      <form
        class="panel form"
        onSubmit={async (event) => {
          event.preventDefault();
          if (file === null) return;
          setResult(null);
          setError(null);
          setShown(REJECTED_SHOWN_STEP);
          setPhase('sending');
          setProgress({ sent_bytes: 0, total_bytes: file.size });
          const outcome = await props.importCards(file, (next) => {
            setProgress(next);
            if (next.sent_bytes >= next.total_bytes) setPhase('checking');
          });
          setResult(outcome.result);
          setError(outcome.error);
          setPhase('done');
        }}
      >
        <Field id="import-file" label={t('import_file')}>
          <input id="import-file" type="file" accept=".csv,text/csv" required onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        </Field>
        <button type="submit" class="button" disabled={busy || file === null}>
          {busy ? t('import_busy') : t('import_submit')}
        </button>
        {busy || phase === 'done' ? (
          <div class="progress" aria-live="polite">
            <label for="import-progress">{phase === 'checking' ? t('import_checking') : phase === 'done' ? t('import_finished') : t('import_sending', { percent })}</label>
            {phase === 'checking' ? (
              <progress id="import-progress" />
            ) : (
              <progress id="import-progress" max={100} value={phase === 'done' ? 100 : percent} />
            )}
          </div>
        ) : null}
      </form>
      <ErrorText code={error} />
      {result ? (
        <section aria-labelledby="import-result">
          <h2 id="import-result" data-testid="import-summary">
            {t('import_result', { imported: result.imported, rejected: result.rejected.length })}
          </h2>
          {result.rejected.length > 0 ? (
            <>
              <Table
                caption={t('import_rejected')}
                columns={[
                  { label: 'col_line', numeric: true, render: (r) => r.line },
                  { label: 'col_reason', render: (r) => r.reason },
                ]}
                rows={result.rejected.slice(0, shown)}
                rowKey={(r) => `${r.line}:${r.reason}`}
                testid="import-rejected"
              />
              {result.rejected.length > shown ? (
                <button type="button" class="button button-secondary" onClick={() => setShown(shown + REJECTED_SHOWN_STEP)}>
                  {t('import_more', { n: result.rejected.length - shown })}
                </button>
              ) : null}
            </>
          ) : null}
        </section>
      ) : null}
    </Page>
  );
}
