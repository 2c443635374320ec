// The app: language, connectivity, the current screen, and the service-worker update prompt.
import { MAX_AMOUNT_FEN_DEFAULT } from '../../protocol/money.ts';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { attempt, followOrder, loadSchools, refreshAllCards, refreshCard, reportCardLost, startNewCardTopup, startSavedCardTopup } from './data/actions.ts';
import {
  forgetCard,
  getCachedSchool,
  getCard,
  getOrder,
  getSetting,
  listCards,
  listMonthTotals,
  listRecords,
  setSetting,
} from './data/db.ts';
import { useLive, useOnline } from './hooks.ts';
import { I18nContext, LANG_DEFAULT, isLang, makeI18n, useI18n, type Lang } from './i18n.ts';
import { useRoute, type Route } from './router.ts';
import type { UpdateHandle } from './sw/register.ts';
import { Home } from './components/Home.tsx';
import { UpdatePrompt } from './components/UpdatePrompt.tsx';
import { Link, Page } from './components/common.tsx';
import { lazyScreen } from './lazy.ts';

const OrderPage = lazyScreen(() => import('./components/OrderPage.tsx').then((module) => module.OrderPage));
const QuickTopup = lazyScreen(() => import('./components/QuickTopup.tsx').then((module) => module.QuickTopup));
const Records = lazyScreen(() => import('./components/Records.tsx').then((module) => module.Records));
const Settings = lazyScreen(() => import('./components/Settings.tsx').then((module) => module.Settings));
const Terms = lazyScreen(() => import('./components/Terms.tsx').then((module) => module.Terms));
const AutoTopupScreen = lazyScreen(() => import('./components/AutoTopupScreen.tsx').then((module) => module.AutoTopupScreen));
const TopupForm = lazyScreen(() => import('./components/TopupForm.tsx').then((module) => module.TopupForm));

export function App(props: { update?: UpdateHandle | null }) {
  const [lang, setLang] = useState<Lang>(LANG_DEFAULT);
  const [update, setUpdate] = useState<UpdateHandle | null>(props.update ?? null);
  const online = useOnline();
  const route = useRoute();
  const i18n = useMemo(() => makeI18n(lang), [lang]);

  useEffect(() => setUpdate(props.update ?? null), [props.update]);
  useEffect(() => {
    void getSetting('lang').then((saved) => isLang(saved) && setLang(saved));
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = i18n.t('app_title');
  }, [lang]);
  // On start and at every reconnection: the phone's copy catches up with the Worker.
  useEffect(() => {
    if (online) void refreshAllCards();
  }, [online]);

  return (
    <I18nContext.Provider value={i18n}>
      <a class="skip" href="#main">
        {i18n.t('skip_to_content')}
      </a>
      <Screen route={route} online={online} onLang={(next) => {
        setLang(next);
        void setSetting('lang', next);
      }} />
      <UpdatePrompt update={update} onDismiss={() => setUpdate(null)} />
    </I18nContext.Provider>
  );
}

function Screen({ route, online, onLang }: { route: Route; online: boolean; onLang: (lang: Lang) => void }) {
  switch (route.name) {
    case 'home':
      return <HomeScreen online={online} />;
    case 'topup':
      return <TopupForm online={online} loadSchools={() => attempt(loadSchools)} start={(input) => attempt(() => startNewCardTopup(input))} />;
    case 'card_topup':
      return <QuickTopupScreen card_id={route.card_id} online={online} />;
    case 'records':
      return <RecordsScreen card_id={route.card_id} online={online} />;
    case 'order':
      return <OrderScreen order_id={route.order_id} online={online} />;
    case 'settings':
      return <SettingsScreen onLang={onLang} />;
    case 'terms':
      return <Terms />;
    case 'card_auto':
      return <AutoTopupScreen card_id={route.card_id} online={online} />;
    default:
      return <NotFound />;
  }
}

function HomeScreen({ online }: { online: boolean }) {
  const cards = useLive(listCards, []);
  return (
    <Home
      cards={cards}
      online={online}
      onReportLost={(card) => attempt(() => reportCardLost(card)).then((outcome) => (outcome.ok ? null : outcome.code))}
    />
  );
}

function QuickTopupScreen({ card_id, online }: { card_id: string; online: boolean }) {
  const card = useLive(async () => (await getCard(card_id)) ?? null, [card_id]);
  const school = useLive(async () => (card ? ((await getCachedSchool(card.school_id)) ?? null) : null), [card?.school_id]);
  return (
    <QuickTopup
      card={card}
      max_amount_fen={school?.max_amount_fen ?? MAX_AMOUNT_FEN_DEFAULT}
      online={online}
      start={(saved, amount_fen, channel) => attempt(() => startSavedCardTopup(saved, amount_fen, channel))}
    />
  );
}

function RecordsScreen({ card_id, online }: { card_id: string; online: boolean }) {
  const card = useLive(async () => (await getCard(card_id)) ?? null, [card_id]);
  const records = useLive(() => listRecords(card_id), [card_id]);
  const month_totals = useLive(() => listMonthTotals(card_id), [card_id]);
  return (
    <Records
      card={card}
      records={records}
      month_totals={month_totals}
      online={online}
      onRefresh={() => attempt(() => refreshCard(card_id)).then((outcome) => (outcome.ok ? null : outcome.code))}
    />
  );
}

function OrderScreen({ order_id, online }: { order_id: string; online: boolean }) {
  const order = useLive(() => getOrder(order_id), [order_id]);
  // The cashier returns with the provider's signed parameters; the app's truth is the Worker's
  // answer, so they leave the address bar (and any bookmark of it).
  useEffect(() => {
    if (location.search !== '') history.replaceState(null, '', location.pathname);
  }, [order_id]);
  return (
    <OrderPage
      order_id={order_id}
      order={order}
      online={online}
      follow={(onUpdate, signal) => followOrder(order_id, (record, failure) => onUpdate(record, failure?.code ?? null), signal)}
    />
  );
}

function SettingsScreen({ onLang }: { onLang: (lang: Lang) => void }) {
  const cards = useLive(listCards, []);
  return <Settings cards={cards} onLang={onLang} onForget={(card) => void forgetCard(card.id)} />;
}

function NotFound() {
  const { t } = useI18n();
  return (
    <Page title={t('not_found_title')} back="/">
      <Link href="/" class="button button-wide">
        {t('order_home')}
      </Link>
    </Page>
  );
}
