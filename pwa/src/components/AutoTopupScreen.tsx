// The auto top-up screen wired to the saved card (Dexie) and the Worker (data/auto-topup.ts),
// loaded on first use like the other screens.
import { attempt } from '../data/actions.ts';
import { cancelAutoTopup, loadAutoTopup, signAutoTopup } from '../data/auto-topup.ts';
import { getCard } from '../data/db.ts';
import { useLive } from '../hooks.ts';
import { AutoTopup } from './AutoTopup.tsx';

export function AutoTopupScreen({ card_id, online }: { card_id: string; online: boolean }) {
  const card = useLive(async () => (await getCard(card_id)) ?? null, [card_id]);
  return (
    <AutoTopup
      card={card}
      online={online}
      load={(saved) => attempt(() => loadAutoTopup(saved))}
      sign={(saved, terms) => attempt(() => signAutoTopup(saved, terms))}
      cancel={(saved, agreement_id) => attempt(() => cancelAutoTopup(saved, agreement_id))}
    />
  );
}
