// The card office's desk reader: what a PBOC purse tells anyone holding it, without any key —
// its asn, balance and online serial, and its transaction detail file (0018, the last loads and
// purchases with their serials and amounts). This is the evidence the office settles a hub's
// card hold with (hub/README.md, "Backup and restore").
import {
  getBalanceApdu,
  parseBalance,
  parsePublicInfo,
  parseTransactionRecord,
  readPublicInfoApdu,
  readRecordApdu,
  RECORD_TYPE_LOAD,
  SW_OK,
  SW_RECORD_NOT_FOUND,
  TRANSACTION_LOG_RECORDS_MAX,
  type TransactionRecord,
} from './apdu.ts';
import { CardStatusError, type CardChannel } from './terminal.ts';

export interface CardReading {
  asn: string;
  balance_fen: number;
  online_serial: number;
  /** Newest first, as the card answers them. */
  records: TransactionRecord[];
}

function expectOk(command: string, answer: { sw: number; data: Buffer }): Buffer {
  if (answer.sw !== SW_OK) throw new CardStatusError(command, answer.sw);
  return answer.data;
}

export function readCard(card: CardChannel): CardReading {
  const { asn } = parsePublicInfo(expectOk('READ BINARY 0015', card.transmit(readPublicInfoApdu())));
  const balance = parseBalance(expectOk('GET BALANCE', card.transmit(getBalanceApdu({ with_online_serial: true }))));
  if (balance.online_serial === null) throw new Error('the card did not answer its online serial');
  const records: TransactionRecord[] = [];
  for (let record_no = 1; record_no <= TRANSACTION_LOG_RECORDS_MAX; record_no++) {
    const answer = card.transmit(readRecordApdu(record_no));
    if (answer.sw === SW_RECORD_NOT_FOUND) break;
    records.push(parseTransactionRecord(expectOk(`READ RECORD ${record_no}`, answer)));
  }
  return { asn, balance_fen: balance.balance_fen, online_serial: balance.online_serial, records };
}

/**
 * The loads the card made from online serial `from` on (each record's serial is the one before
 * its load), oldest first; null when the log no longer reaches back that far (it is cyclic), so
 * the office cannot tell them all from this card.
 */
export function loadsSince(reading: CardReading, from: number): TransactionRecord[] | null {
  const loads = reading.records.filter((record) => record.type === RECORD_TYPE_LOAD && record.serial >= from).sort((a, b) => a.serial - b.serial);
  const wanted = reading.online_serial - from;
  if (wanted < 0 || loads.length !== wanted) return null;
  // Serials rise by one with each load: a gap means a record the log has lost.
  return loads.every((record, i) => record.serial === from + i) ? loads : null;
}
