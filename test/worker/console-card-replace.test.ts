// 补卡 from the console (issue 10): an operator replaces a card of their own school through the
// same ledger function as the admin API, the decision and its audit-trail row commit together,
// and a refused or foreign replacement leaves neither. The console's order view then shows the
// order by its live credit.
import { env } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import type { CardReplacementView } from '../../protocol/card-replace.ts';
import { successorCreditId } from '../../worker/ledger/replace.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { auditRows, consoleFetch, consoleJson, operatorSession } from './helpers/console.ts';
import { createSchool, paidTopup, testAsn } from './helpers/hub.ts';

const NEW_ASN = 'B7000000000000C1';

async function rows(table: string, school_id: string): Promise<unknown[]> {
  return (await env.DB.prepare(`SELECT * FROM ${table} WHERE school_id = ? ORDER BY rowid`).bind(school_id).all()).results;
}

afterAll(expectLedgerClean);

describe('POST /api/v1/console/cards/{card_no}/replace', () => {
  it('replaces a card of the operator’s school and records who did it in the same batch', async () => {
    const school_id = await createSchool('crep', ['K1', 'K2']);
    const paid = await paidTopup(school_id, 'K1', 880);
    const session = await operatorSession([school_id]);

    const view = await consoleJson<CardReplacementView>(session, 'POST', '/cards/k1/replace', { school_id, new_card_no: 'K9', new_asn: NEW_ASN }, 201);
    expect(view).toMatchObject({ old_card_no: 'K1', new_card_no: 'K9', actor: `operator:${session.operator_id}`, moved: [paid.credit_id] });
    const audit = await auditRows(school_id);
    expect(audit).toEqual([expect.objectContaining({ operator_id: session.operator_id, action: 'card_replace', target: 'K1' })]);
    expect(JSON.parse(audit[0]!.after_json!)).toEqual({ replacement_id: view.replacement_id, new_card_no: 'K9', new_asn: NEW_ASN });

    const read = await consoleJson<CardReplacementView>(session, 'GET', `/replacements/${view.replacement_id}?school_id=${school_id}`);
    expect(read).toEqual(view);
    // The order's story shows where the money is now: the new card's credit, still to load.
    const story = await consoleJson<{ credit: { credit_id: string; state: string } | null }>(session, 'GET', `/orders/${paid.order_id}`);
    expect(story.credit).toMatchObject({ credit_id: successorCreditId(paid.credit_id), state: 'pending' });
    // The closed card cannot be made active again from the console.
    const reopen = await consoleFetch(session, 'POST', '/cards/K1/status', { body: { school_id, status: 'active' } });
    expect(reopen.status).toBe(409);
  });

  it('refuses another school’s card, a refused replacement and a request without CSRF, with no audit row', async () => {
    const school_id = await createSchool('crep', ['M1', 'M2']);
    const other = await createSchool('crep', ['M1']);
    const session = await operatorSession([other]);
    const own = await operatorSession([school_id]);
    const before = { cards: await rows('cards', school_id), replacements: await rows('card_replacements', school_id) };

    const foreign = await consoleFetch(session, 'POST', '/cards/M1/replace', { body: { school_id, new_card_no: 'M9', new_asn: NEW_ASN } });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({ error: { code: 'school_not_found' } });
    const taken = await consoleFetch(own, 'POST', '/cards/M1/replace', { body: { school_id, new_card_no: 'M9', new_asn: testAsn(1) } });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toMatchObject({ error: { code: 'asn_taken' } });
    const forged = await consoleFetch(own, 'POST', '/cards/M1/replace', { body: { school_id, new_card_no: 'M9', new_asn: NEW_ASN }, csrf: false });
    expect(forged.status).toBe(403);
    const signed_out = await consoleFetch(null, 'POST', '/cards/M1/replace', { body: { school_id, new_card_no: 'M9', new_asn: NEW_ASN } });
    expect(signed_out.status).toBe(401);
    const unseen = await consoleFetch(session, 'GET', `/replacements/P20261201000000000ABCDEFGHIJ?school_id=${school_id}`);
    expect(unseen.status).toBe(404);

    expect({ cards: await rows('cards', school_id), replacements: await rows('card_replacements', school_id) }).toEqual(before);
    expect(await auditRows(school_id)).toEqual([]);
  });
});
