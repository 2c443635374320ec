// The card issuer's step (DESIGN section 6): a card is personalised with its own DLK and DTK,
// diversified from the school's master keys by its asn. It lives in the simulator, not in the
// hub: the hub only ever asks its key store yes/no questions.
import { randomBytes } from 'node:crypto';
import { diversifyKey } from '../../protocol/pboc.ts';
import type { CardMasterKeys } from '../../hub/keys/file.ts';
import { PurseCard, type PurseCardState } from './card.ts';

/** A fresh card's state: keys for `asn`, balance and serials as given (0 when new). */
export function personalise(
  master: CardMasterKeys,
  asn: string,
  options: { balance_fen: number; online_serial: number } = { balance_fen: 0, online_serial: 0 },
): PurseCardState {
  if (!/^[0-9A-F]{16}$/.test(asn)) throw new Error('asn is 16 upper-case hex digits');
  return {
    asn,
    key_version: master.key_version,
    dlk: diversifyKey(master.load_mk, asn).toString('hex').toUpperCase(),
    dtk: diversifyKey(master.tac_mk, asn).toString('hex').toUpperCase(),
    balance_fen: options.balance_fen,
    online_serial: options.online_serial,
    offline_serial: 0,
    proves: [],
  };
}

export function personaliseCard(master: CardMasterKeys, asn: string, options?: { balance_fen: number; online_serial: number }): PurseCard {
  return new PurseCard(personalise(master, asn, options));
}

/** A card whose keys come from other master keys: it answers every APDU, but no MAC1 of it verifies. */
export function foreignCard(asn: string, options?: { balance_fen: number; online_serial: number }): PurseCard {
  const key_version = 1;
  return personaliseCard({ key_version, load_mk: randomBytes(16), tac_mk: randomBytes(16) }, asn, options);
}
