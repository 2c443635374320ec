// hub/README.md's worked example is what the code computes: the page carries the output of
// `node sim/pos/worked-example.ts`, and a personalised simulated card with the example's
// random answers exactly its INITIALIZE FOR LOAD and CREDIT FOR LOAD bytes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { runCommand } from '../../scripts/lib/processes.ts';
import { creditForLoadApdu, initializeForLoadApdu, LOAD_KEY_INDEX } from '../../sim/pos/apdu.ts';
import { personalise } from '../../sim/pos/personalise.ts';
import { PurseCard } from '../../sim/pos/card.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

it('hub/README.md shows exactly what the code computes, and the card agrees byte for byte', async () => {
  const output = await runCommand(process.execPath, ['sim/pos/worked-example.ts'], { cwd: ROOT, env: process.env, timeout_ms: 30_000 });
  const readme = readFileSync(path.join(ROOT, 'hub/README.md'), 'utf8');
  expect(readme).toContain(output.trim());
  const line = (label: string) => output.split('\n').find((entry) => entry.startsWith(`${label}: `))!.slice(label.length + 2);
  const master = { key_version: 1, load_mk: Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex'), tac_mk: Buffer.from('FFEEDDCCBBAA99887766554433221100', 'hex') };
  const card = new PurseCard(personalise(master, '0100000020230001', { balance_fen: 1_282, online_serial: 9 }), { random: () => Buffer.from('1A2B3C4D', 'hex') });
  const bytes = (text: string) => Buffer.from(text.replace(/ /g, ''), 'hex');
  const init = card.transmit(bytes(line('2 INITIALIZE FOR LOAD')));
  expect(init.data).toEqual(bytes(line('2 card answers')).subarray(0, 16));
  expect(bytes(line('2 INITIALIZE FOR LOAD'))).toEqual(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 10_000, card_terminal_id: '000000000001' }));
  const mac2 = (JSON.parse(line('2 answer (200)')) as { mac2: string }).mac2;
  const credit = card.transmit(creditForLoadApdu({ terminal_time: '20261201123000', mac2 }));
  expect(credit.sw).toBe(0x9000);
  expect(credit.data).toEqual(bytes(line('3 card answers (TAC)')).subarray(0, 4));
  expect(card.balance_fen).toBe(11_282);
});
