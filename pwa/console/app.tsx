// The console: session, language, the operator's school, the frame (top bar and navigation)
// and the page of the current route. Each page's loaders and actions come from data/api.ts
// here; the pages only render what they are given.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ConsoleOrder, ConsoleSession } from '../../protocol/console.ts';
import { lazyScreen } from '../src/lazy.ts';
import * as api from './data/api.ts';
import { failureCode, useCursorPages, useLoad } from './hooks.ts';
import { I18nContext, LANG_DEFAULT, LANG_NAMES, isLang, makeI18n, useI18n, type Lang, type MessageKey } from './i18n.ts';
import { navigate, pagePath, useRoute, type PageName, type Route } from './router.ts';
import { Link, Page } from './components/common.tsx';
import { SignIn } from './components/SignIn.tsx';
import { Overview } from './components/Overview.tsx';
import { Orders } from './components/Orders.tsx';
import { OrderStory } from './components/OrderStory.tsx';
import { Pending, type PendingPage } from './components/Pending.tsx';
import { Refunds } from './components/Refunds.tsx';
import { GreyRecords } from './components/GreyRecords.tsx';
import { Cards } from './components/Cards.tsx';
import { CardImport } from './components/CardImport.tsx';
import { Hubs } from './components/Hubs.tsx';
import { Reconciliation } from './components/Reconciliation.tsx';
import { Agreements, Audit, Notices } from './components/Lists.tsx';
import { Sessions } from './components/Sessions.tsx';

// uPlot is the console's largest library: it loads with the charts page only.
const Charts = lazyScreen(() => import('./components/Charts.tsx').then((module) => module.Charts));

const LANG_KEY = 'yikatong.console.lang';
const SCHOOL_KEY = 'yikatong.console.school';

const NAV: { page: PageName; label: MessageKey }[] = [
  { page: 'overview', label: 'nav_overview' },
  { page: 'orders', label: 'nav_orders' },
  { page: 'pending', label: 'nav_pending' },
  { page: 'refunds', label: 'nav_refunds' },
  { page: 'grey', label: 'nav_grey' },
  { page: 'cards', label: 'nav_cards' },
  { page: 'cards_import', label: 'nav_cards_import' },
  { page: 'hubs', label: 'nav_hubs' },
  { page: 'reconciliation', label: 'nav_reconciliation' },
  { page: 'agreements', label: 'nav_agreements' },
  { page: 'notices', label: 'nav_notices' },
  { page: 'charts', label: 'nav_charts' },
  { page: 'audit', label: 'nav_audit' },
  { page: 'sessions', label: 'nav_sessions' },
];

function savedLang(): Lang {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    return isLang(saved) ? saved : LANG_DEFAULT;
  } catch {
    return LANG_DEFAULT;
  }
}

export function App() {
  const [lang, setLang] = useState<Lang>(savedLang);
  const i18n = useMemo(() => makeI18n(lang), [lang]);
  // undefined: still asking the Worker whether this browser holds a session.
  const [session, setSession] = useState<ConsoleSession | null | undefined>(undefined);
  const [boot_error, setBootError] = useState<string | null>(null);

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = i18n.t('console_title');
  }, [lang]);
  useEffect(() => {
    api.currentSession().then(setSession, (err: unknown) => {
      setBootError(failureCode(err));
      setSession(null);
    });
    return api.onUnauthorized(() => setSession(null));
  }, []);

  const changeLang = (next: Lang) => {
    setLang(next);
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch {
      // A browser that keeps nothing still switches for this visit.
    }
  };
  const signedIn = (next: ConsoleSession) => {
    setSession(next);
    setBootError(null);
  };

  return (
    <I18nContext.Provider value={i18n}>
      <a class="skip" href="#main">
        {i18n.t('skip_to_content')}
      </a>
      {session === undefined ? (
        <p class="boot muted" role="status">
          {i18n.t('loading')}
        </p>
      ) : session === null ? (
        <>
          <div class="signin-lang">
            <LangSwitch lang={lang} onLang={changeLang} />
          </div>
          {boot_error ? <p class="note note-error">{i18n.error(boot_error)}</p> : null}
          <SignIn
            signIn={(operator_id, password) => api.signIn(operator_id, password).then((s) => (signedIn(s), null), failureCode)}
            signInWithAccess={() => api.signInWithAccess().then((s) => (signedIn(s), null), failureCode)}
          />
        </>
      ) : (
        <Console session={session} lang={lang} onLang={changeLang} onSignedOut={() => setSession(null)} />
      )}
    </I18nContext.Provider>
  );
}

function LangSwitch({ lang, onLang }: { lang: Lang; onLang: (lang: Lang) => void }) {
  const { t } = useI18n();
  const other: Lang = lang === 'zh' ? 'en' : 'zh';
  return (
    <button type="button" class="button button-secondary button-small" lang={other === 'zh' ? 'zh-CN' : 'en'} aria-label={t('lang_switch', { lang: LANG_NAMES[other] })} onClick={() => onLang(other)}>
      {LANG_NAMES[other]}
    </button>
  );
}

function useSchool(session: ConsoleSession): [string, (school_id: string) => void] {
  const ids = session.schools.map((s) => s.school_id);
  const [school_id, setSchoolId] = useState(() => {
    try {
      const saved = localStorage.getItem(SCHOOL_KEY);
      if (saved !== null && ids.includes(saved)) return saved;
    } catch {
      // No storage: the first school.
    }
    return ids[0] ?? '';
  });
  return [
    ids.includes(school_id) ? school_id : (ids[0] ?? ''),
    (next) => {
      setSchoolId(next);
      try {
        localStorage.setItem(SCHOOL_KEY, next);
      } catch {
        // Kept for this visit only.
      }
    },
  ];
}

function Console(props: { session: ConsoleSession; lang: Lang; onLang: (lang: Lang) => void; onSignedOut: () => void }) {
  const { t } = useI18n();
  const route = useRoute();
  const [school_id, setSchool] = useSchool(props.session);
  const [menu_open, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [route]);
  const current = route.name === 'order' ? 'orders' : route.name;
  const signOut = async () => {
    await api.signOut().catch(() => undefined);
    props.onSignedOut();
  };

  return (
    <div class="console">
      <header class="topbar">
        <div class="topbar-brand">{t('console_title')}</div>
        <button type="button" class="menu-toggle" aria-expanded={menu_open} aria-controls="console-nav" onClick={() => setMenuOpen(!menu_open)}>
          {t('menu')}
        </button>
        <div class="topbar-tools">
          {props.session.schools.length > 1 ? (
            <span class="topbar-school">
              <label for="console-school">{t('school')}</label>
              <select id="console-school" value={school_id} onChange={(e) => setSchool(e.currentTarget.value)}>
                {props.session.schools.map((s) => (
                  <option value={s.school_id}>{s.name}</option>
                ))}
              </select>
            </span>
          ) : (
            <span class="topbar-school" data-testid="console-school" title={props.session.schools[0]?.name}>
              {props.session.schools[0]?.name ?? ''}
            </span>
          )}
          <span class="topbar-operator" data-testid="console-operator">
            {props.session.display_name}
          </span>
          <LangSwitch lang={props.lang} onLang={props.onLang} />
          <button type="button" class="button button-secondary button-small" onClick={signOut}>
            {t('signout')}
          </button>
        </div>
      </header>
      <div class="layout">
        <nav id="console-nav" class={menu_open ? 'nav nav-open' : 'nav'} aria-label={t('nav_label')}>
          <ul>
            {NAV.map((item) => (
              <li key={item.page}>
                <Link href={pagePath(item.page)} aria-current={current === item.page ? 'page' : undefined}>
                  {t(item.label)}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <Screen key={`${school_id}`} route={route} school_id={school_id} session={props.session} onSignedOut={props.onSignedOut} />
        </main>
      </div>
    </div>
  );
}

function Screen({ route, school_id, session, onSignedOut }: { route: Route; school_id: string; session: ConsoleSession; onSignedOut: () => void }) {
  switch (route.name) {
    case 'overview':
      return <OverviewScreen school_id={school_id} />;
    case 'orders':
      return <OrdersScreen school_id={school_id} />;
    case 'order':
      return <OrderScreen school_id={school_id} order_id={route.order_id} />;
    case 'pending':
      return <PendingScreen school_id={school_id} />;
    case 'refunds':
      return <RefundsScreen school_id={school_id} />;
    case 'grey':
      return <GreyScreen school_id={school_id} />;
    case 'cards':
      return <CardsScreen school_id={school_id} />;
    case 'cards_import':
      return (
        <CardImport
          importCards={(file, onProgress) =>
            api.importCards(school_id, file, onProgress).then(
              (result) => ({ result, error: null }),
              (err: unknown) => ({ result: null, error: failureCode(err) }),
            )
          }
        />
      );
    case 'hubs':
      return <HubsScreen school_id={school_id} />;
    case 'reconciliation':
      return <ReconciliationScreen school_id={school_id} />;
    case 'agreements':
      return <AgreementsScreen school_id={school_id} />;
    case 'notices':
      return <NoticesScreen school_id={school_id} />;
    case 'charts':
      return <ChartsScreen school_id={school_id} />;
    case 'audit':
      return <AuditScreen school_id={school_id} />;
    case 'sessions':
      return <SessionsScreen session={session} onSignedOut={onSignedOut} />;
    default:
      return <NotFound />;
  }
}

function OverviewScreen({ school_id }: { school_id: string }) {
  const overview = useLoad(() => api.fetchOverview(school_id), [school_id]);
  return <Overview overview={overview} />;
}

function OrdersScreen({ school_id }: { school_id: string }) {
  const [search, setSearch] = useState<api.OrderSearch>(() => {
    const params = new URLSearchParams(location.search);
    return {
      card_no: params.get('card_no') ?? undefined,
      order_id: params.get('order_id') ?? undefined,
      provider_trade_no: params.get('provider_trade_no') ?? undefined,
      date: params.get('date') ?? undefined,
    };
  });
  const key = JSON.stringify(search);
  const pages = useCursorPages<ConsoleOrder>(
    (cursor) => api.listOrders(school_id, search, { cursor }).then((r) => ({ rows: r.orders, next_cursor: r.next_cursor })),
    [school_id, key],
  );
  return (
    <Orders
      search={search}
      onSearch={(next) => {
        setSearch(next);
        // The search is in the address, so it survives a reload and can be sent to a colleague.
        const params = new URLSearchParams(Object.entries(next).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
        history.replaceState(null, '', `${pagePath('orders')}${params.size > 0 ? `?${params}` : ''}`);
      }}
      pages={pages}
    />
  );
}

function OrderScreen({ school_id, order_id }: { school_id: string; order_id: string }) {
  const story = useLoad(() => api.fetchOrderStory(school_id, order_id), [school_id, order_id]);
  return (
    <OrderStory
      order_id={order_id}
      story={story}
      refund={(reason) =>
        api.startRefund(order_id, reason).then(
          (refund) => ({ refund, error: null }),
          (err: unknown) => ({ refund: null, error: failureCode(err) }),
        )
      }
    />
  );
}

function PendingScreen({ school_id }: { school_id: string }) {
  const pages = useCursorPages<PendingPage['rows'][number], PendingPage>(
    (cursor) => api.fetchPending(school_id, { cursor }).then((r) => ({ rows: r.oldest, next_cursor: r.next_cursor, buckets: r.buckets })),
    [school_id],
  );
  return <Pending pages={pages} />;
}

function RefundsScreen({ school_id }: { school_id: string }) {
  const [state, setState] = useState('');
  const pages = useCursorPages(
    (cursor) => api.listRefunds(school_id, state || undefined, { cursor }).then((r) => ({ rows: r.refunds, next_cursor: r.next_cursor })),
    [school_id, state],
  );
  return (
    <Refunds
      state={state}
      onState={setState}
      pages={pages}
      start={(order_id, reason) =>
        api.startRefund(order_id, reason).then(
          (refund) => {
            pages.reload();
            return { refund, error: null };
          },
          (err: unknown) => ({ refund: null, error: failureCode(err) }),
        )
      }
    />
  );
}

function GreyScreen({ school_id }: { school_id: string }) {
  const [state, setState] = useState<'open' | 'resolved' | 'all'>('open');
  const pages = useCursorPages(
    (cursor) => api.listGreyRecords(school_id, state, { cursor }).then((r) => ({ rows: r.records, next_cursor: r.next_cursor })),
    [school_id, state],
  );
  return (
    <GreyRecords
      state={state}
      onState={setState}
      pages={pages}
      settle={(grey_id, settlement) => api.settleGreyRecord(grey_id, settlement).then(() => null, failureCode)}
    />
  );
}

function CardsScreen({ school_id }: { school_id: string }) {
  const [q, setQ] = useState('');
  const pages = useCursorPages(
    (cursor) => api.listCards(school_id, q || undefined, { cursor }).then((r) => ({ rows: r.cards, next_cursor: r.next_cursor })),
    [school_id, q],
  );
  return (
    <Cards
      q={q}
      onSearch={setQ}
      pages={pages}
      setStatus={(card_no, status) => api.setCardStatus(school_id, card_no, status).then(() => null, failureCode)}
      replace={(card_no, new_card_no, new_asn) =>
        api.replaceCard(school_id, card_no, new_card_no, new_asn).then(
          (replacement) => ({ replacement, error: null }),
          (err: unknown) => ({ replacement: null, error: failureCode(err) }),
        )
      }
    />
  );
}

function HubsScreen({ school_id }: { school_id: string }) {
  const hubs = useLoad(() => api.listHubs(school_id), [school_id]);
  return (
    <Hubs
      hubs={hubs}
      setState={(hub_id, state, reason) => api.setHubState(hub_id, state, reason).then(() => null, failureCode)}
      settle={(credit_id, settlement) => api.settleFrozenCredit(credit_id, settlement).then(() => null, failureCode)}
    />
  );
}

/** Yesterday in China, the day the nightly reconciliation covers. */
function chinaYesterday(now_ms: number): string {
  return new Date(now_ms + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
}

function ReconciliationScreen({ school_id }: { school_id: string }) {
  const [range, setRange] = useState<{ from?: string; to?: string }>({});
  const days = useLoad(() => api.listReconciliations(school_id, range), [school_id, range.from, range.to]);
  return (
    <Reconciliation
      range={range}
      onRange={setRange}
      days={days}
      yesterday={chinaYesterday(Date.now())}
      rerun={(date) => api.rerunReconciliation(school_id, date).then(() => null, failureCode)}
    />
  );
}

function AgreementsScreen({ school_id }: { school_id: string }) {
  const pages = useCursorPages((cursor) => api.listAgreements(school_id, { cursor }).then((r) => ({ rows: r.agreements, next_cursor: r.next_cursor })), [school_id]);
  return <Agreements pages={pages} />;
}

function NoticesScreen({ school_id }: { school_id: string }) {
  const [state, setState] = useState(() => new URLSearchParams(location.search).get('state') ?? '');
  const pages = useCursorPages(
    (cursor) => api.listNotices(school_id, state || undefined, { cursor }).then((r) => ({ rows: r.notices, next_cursor: r.next_cursor })),
    [school_id, state],
  );
  return <Notices state={state} onState={setState} pages={pages} />;
}

function AuditScreen({ school_id }: { school_id: string }) {
  const pages = useCursorPages((cursor) => api.listAudit(school_id, { cursor }).then((r) => ({ rows: r.entries, next_cursor: r.next_cursor })), [school_id]);
  return <Audit pages={pages} />;
}

function ChartsScreen({ school_id }: { school_id: string }) {
  const [days, setDays] = useState(7);
  const charts = useLoad(() => api.fetchCharts(school_id, days), [school_id, days]);
  return <Charts days={days} onDays={setDays} charts={charts} />;
}

function SessionsScreen({ session, onSignedOut }: { session: ConsoleSession; onSignedOut: () => void }) {
  const sessions = useLoad(() => api.listSessions(), [session.operator_id]);
  return (
    <Sessions
      sessions={sessions}
      revoke={async (s) => {
        try {
          if (s.current) {
            await api.signOut();
            onSignedOut();
          } else {
            await api.revokeSession(s.session_id);
          }
          return null;
        } catch (err) {
          return failureCode(err);
        }
      }}
    />
  );
}

function NotFound() {
  const { t } = useI18n();
  return (
    <Page title={t('not_found_title')}>
      <button type="button" class="button" onClick={() => navigate(pagePath('overview'))}>
        {t('nav_overview')}
      </button>
    </Page>
  );
}
