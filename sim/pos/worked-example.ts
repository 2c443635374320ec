// The worked example of hub/README.md, computed by the code the hub and the simulator run:
// `node sim/pos/worked-example.ts` prints every APDU, request, signing string and answer of
// one load with fixed keys, so a terminal vendor can check their own implementation byte for byte.
import { createHmac } from 'node:crypto';
import { computeTac, diversifyKey, sessionLoadKey, computeMac1, computeMac2 } from '../../protocol/pboc.ts';
import { hubAnswerSigningString, LOAD_TRANSACTION_TYPE, POS_PATH_LOADS, POS_PATH_SWIPE, posCommitPath, terminalSigningString } from '../../protocol/pos.ts';
import { creditForLoadApdu, getTransactionProveApdu, initializeForLoadApdu, LOAD_KEY_INDEX } from './apdu.ts';

// Example values only: never use these keys for real cards or terminals.
const LOAD_MK = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
const TAC_MK = Buffer.from('FFEEDDCCBBAA99887766554433221100', 'hex');
const TERMINAL_KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const ASN = '0100000020230001';
const CARD_TERMINAL_ID = '000000000001';
const RANDOM = '1A2B3C4D';
const SERIAL = 9;
const BALANCE_FEN = 1_282;
const AMOUNT_FEN = 10_000;
const TERMINAL_TIME = '20261201123000';
const TIMESTAMP_MS = 1_796_142_600_000;
const CLAIM_ID = 'clm_0123456789abcdef01234567';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').toUpperCase().replace(/(..)/g, '$1 ').trim();
const hmac = (text: string) => createHmac('sha256', TERMINAL_KEY).update(text).digest('hex');
const out: string[] = [];
const show = (label: string, value: string) => out.push(`${label}: ${value}`);

const dlk = diversifyKey(LOAD_MK, ASN);
const dtk = diversifyKey(TAC_MK, ASN);
const seslk = sessionLoadKey(dlk, RANDOM, SERIAL);
const mac1 = computeMac1(seslk, { balance_fen: BALANCE_FEN, amount_fen: AMOUNT_FEN, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: CARD_TERMINAL_ID });
const mac2 = computeMac2(seslk, { amount_fen: AMOUNT_FEN, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: CARD_TERMINAL_ID, terminal_time: TERMINAL_TIME });
const tac = computeTac(dtk, { balance_after_fen: BALANCE_FEN + AMOUNT_FEN, online_serial: SERIAL, amount_fen: AMOUNT_FEN, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: CARD_TERMINAL_ID, terminal_time: TERMINAL_TIME });
show('DLK', dlk.toString('hex').toUpperCase());
show('DTK', dtk.toString('hex').toUpperCase());
show('SESLK', seslk.toString('hex').toUpperCase());

const swipe = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 41, card_no: '20230001', chip: { balance_fen: BALANCE_FEN, online_serial: SERIAL } });
const swipe_signature = hmac(terminalSigningString('POST', POS_PATH_SWIPE, TIMESTAMP_MS, swipe));
show('1 swipe body', swipe);
show('1 signing string', JSON.stringify(terminalSigningString('POST', POS_PATH_SWIPE, TIMESTAMP_MS, swipe)));
show('1 X-Terminal-Signature', swipe_signature);
const swipe_answer = JSON.stringify({ card_status: 'active', pending_fen: AMOUNT_FEN, offer_fen: AMOUNT_FEN, settle: null });
show('1 answer (200)', swipe_answer);
show('1 X-Hub-Signature', hmac(hubAnswerSigningString(swipe_signature, 200, swipe_answer)));

show('2 INITIALIZE FOR LOAD', hex(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: AMOUNT_FEN, card_terminal_id: CARD_TERMINAL_ID })));
const init_answer = Buffer.alloc(16);
init_answer.writeUInt32BE(BALANCE_FEN, 0);
init_answer.writeUInt16BE(SERIAL, 4);
init_answer[6] = 1;
init_answer[7] = 0;
init_answer.write(RANDOM, 8, 'hex');
init_answer.write(mac1, 12, 'hex');
show('2 card answers', `${hex(init_answer)} 90 00`);
show('2 MAC1', mac1);
const load = JSON.stringify({
  terminal_id: 'canteen-1',
  txn_seq: 42,
  card_no: '20230001',
  asn: ASN,
  amount_fen: AMOUNT_FEN,
  init: { balance_fen: BALANCE_FEN, online_serial: SERIAL, key_version: 1, algorithm_id: 0, random: RANDOM, mac1 },
  terminal_time: TERMINAL_TIME,
});
const load_signature = hmac(terminalSigningString('POST', POS_PATH_LOADS, TIMESTAMP_MS + 40, load));
show('2 load body', load);
show('2 X-Terminal-Timestamp', String(TIMESTAMP_MS + 40));
show('2 X-Terminal-Signature', load_signature);
const load_answer = JSON.stringify({ claim_id: CLAIM_ID, amount_fen: AMOUNT_FEN, mac2, balance_after_fen: BALANCE_FEN + AMOUNT_FEN, online_serial_after: SERIAL + 1 });
show('2 answer (200)', load_answer);
show('2 X-Hub-Signature', hmac(hubAnswerSigningString(load_signature, 200, load_answer)));

show('3 CREDIT FOR LOAD', hex(creditForLoadApdu({ terminal_time: TERMINAL_TIME, mac2 })));
show('3 card answers (TAC)', `${hex(Buffer.from(tac, 'hex'))} 90 00`);
const commit = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 43, tac, proof: 'tac' });
const commit_path = posCommitPath(CLAIM_ID);
const commit_signature = hmac(terminalSigningString('POST', commit_path, TIMESTAMP_MS + 80, commit));
show('3 commit path', commit_path);
show('3 commit body', commit);
show('3 X-Terminal-Timestamp', String(TIMESTAMP_MS + 80));
show('3 X-Terminal-Signature', commit_signature);
const commit_answer = JSON.stringify({ claim_id: CLAIM_ID, status: 'committed', balance_after_fen: BALANCE_FEN + AMOUNT_FEN, online_serial_after: SERIAL + 1 });
show('3 answer (200)', commit_answer);
show('3 X-Hub-Signature', hmac(hubAnswerSigningString(commit_signature, 200, commit_answer)));
show('settle: GET TRANSACTION PROVE for serial 9', `${hex(getTransactionProveApdu({ online_serial: SERIAL }))} → ${hex(Buffer.from(mac2 + tac, 'hex'))} 90 00 (MAC2 ‖ TAC)`);

process.stdout.write(`${out.join('\n')}\n`);
