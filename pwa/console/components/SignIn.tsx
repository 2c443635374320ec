// Sign-in: operator id and password (or Cloudflare Access where it fronts the console).
import { useState } from 'preact/hooks';
import { useI18n } from '../i18n.ts';
import { ErrorText, Field } from './common.tsx';

export function SignIn(props: { signIn: (operator_id: string, password: string) => Promise<string | null>; signInWithAccess: () => Promise<string | null> }) {
  const { t } = useI18n();
  const [operator_id, setOperatorId] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(await props.signIn(operator_id.trim(), password));
    setBusy(false);
  };

  return (
    <main id="main" class="signin" tabIndex={-1}>
      <h1>{t('signin_title')}</h1>
      <p class="muted">{t('signin_intro')}</p>
      <form class="form panel" onSubmit={submit}>
        <Field id="signin-operator" label={t('signin_operator')}>
          <input id="signin-operator" name="username" autocomplete="username" required value={operator_id} onInput={(e) => setOperatorId(e.currentTarget.value)} />
        </Field>
        <Field id="signin-password" label={t('signin_password')}>
          <input
            id="signin-password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </Field>
        <ErrorText code={error} />
        <button type="submit" class="button" disabled={busy}>
          {busy ? t('signin_busy') : t('signin_submit')}
        </button>
        <button
          type="button"
          class="button button-secondary"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(await props.signInWithAccess());
            setBusy(false);
          }}
        >
          {t('signin_access')}
        </button>
      </form>
    </main>
  );
}
