// Seeds the demo campus (sim/demo-campus.ts) into a running Worker through its admin API, the
// way a card office registers a school: `PUT /api/v1/admin/schools/{id}` and the registry as
// CSV to `POST /api/v1/admin/schools/{id}/cards`. Both are upserts, so seeding twice is harmless.
//
// As a command: `node scripts/seed.ts --url http://127.0.0.1:8787 --token ADMIN_TOKEN`.
import { parseArgs } from 'node:util';
import type { AdminSchoolRequest, CardImportResponse } from '../protocol/api.ts';
import { DEMO_CARDS, DEMO_SCHOOLS, type DemoCard, type DemoSchool } from '../sim/demo-campus.ts';

const REQUEST_TIMEOUT_MS = 15_000;

export interface SeedOptions {
  /** The Worker's origin, e.g. http://127.0.0.1:8787. */
  base_url: string;
  admin_token: string;
  schools?: readonly DemoSchool[];
  cards?: readonly DemoCard[];
}

export interface SeedSummary {
  schools: number;
  cards_imported: number;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The registry file a card office would upload: header, then `card_no,name,kind,status,asn` rows. */
export function cardsCsv(cards: readonly DemoCard[]): string {
  const lines = ['card_no,name,kind,status,asn'];
  for (const card of cards) {
    lines.push([card.card_no, card.holder_name, card.kind, card.status, card.asn].map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

async function adminCall(options: SeedOptions, method: string, path: string, content_type: string, body: string): Promise<unknown> {
  const response = await fetch(`${options.base_url}${path}`, {
    method,
    headers: { authorization: `Bearer ${options.admin_token}`, 'content-type': content_type },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  return text.length > 0 ? JSON.parse(text) : null;
}

export async function seedDemoCampus(options: SeedOptions): Promise<SeedSummary> {
  const schools = options.schools ?? DEMO_SCHOOLS;
  const cards = options.cards ?? DEMO_CARDS;
  let cards_imported = 0;
  for (const school of schools) {
    const request: AdminSchoolRequest = {
      name: school.name,
      city: school.city,
      initial: school.initial,
      max_amount_fen: school.max_amount_fen,
    };
    const school_path = `/api/v1/admin/schools/${encodeURIComponent(school.id)}`;
    await adminCall(options, 'PUT', school_path, 'application/json', JSON.stringify(request));
    const school_cards = cards.filter((card) => card.school_id === school.id);
    if (school_cards.length === 0) continue;
    const result = (await adminCall(options, 'POST', `${school_path}/cards`, 'text/csv; charset=utf-8', cardsCsv(school_cards))) as CardImportResponse;
    // The demo registry is ours: a rejected line is a bug in it or in the import, never noise.
    if (result.rejected.length > 0) {
      const reasons = result.rejected.map((rejection) => `line ${rejection.line}: ${rejection.reason}`).join('; ');
      throw new Error(`card import of ${school.id} rejected rows: ${reasons}`);
    }
    cards_imported += result.imported;
  }
  return { schools: schools.length, cards_imported };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { url: { type: 'string' }, token: { type: 'string' } }, strict: true });
  const base_url = values.url ?? 'http://127.0.0.1:8787';
  const admin_token = values.token ?? process.env.ADMIN_TOKEN;
  if (admin_token === undefined) {
    console.error('usage: node scripts/seed.ts --url http://127.0.0.1:8787 --token ADMIN_TOKEN');
    process.exit(2);
  }
  seedDemoCampus({ base_url, admin_token }).then(
    (summary) => console.log(`seeded ${summary.schools} schools, ${summary.cards_imported} cards`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
