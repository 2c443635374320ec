// The yardstick of `npm run bench:hub`: a bare node:http server that answers the three POS v2
// routes with JSON of the same shape from a Map, with no authentication, validation,
// cryptography or durability. The hub's throughput is reported as a ratio of this one's.
import { createServer } from 'node:http';
import { benchAsn } from './cards.ts';

const CARDS = Number(process.env.BENCH_CARDS ?? 200_000);
const CREDIT_EVERY = Number(process.env.BENCH_CREDIT_EVERY ?? 4);
const BODY_BYTES_MAX = 4096;

// BENCH_BARE_CARD_RECORDS=1: also hold every card's registry record, for an RSS yardstick
// beside a hub holding the same registry (the tap runs do not need it: every card is active).
const card_records = new Map<string, { status: string; kind: string; asn: string }>();
if (process.env.BENCH_BARE_CARD_RECORDS === '1') {
  for (let i = 0; i < CARDS; i++) card_records.set(`C${i}`, { status: 'active', kind: 'student', asn: benchAsn(i) });
}
const pending = new Map<string, number>();
for (let i = 0; i < CARDS; i += CREDIT_EVERY) pending.set(`C${i}`, 10_000);
const reserved = new Map<string, { card_no: string; balance_after_fen: number; online_serial_after: number }>();
let claim_seq = 0;

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    length += chunk.length;
    if (length <= BODY_BYTES_MAX) chunks.push(chunk);
  });
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      card_no?: string;
      amount_fen?: number;
      init?: { balance_fen: number; online_serial: number };
    };
    let answer: unknown;
    if (req.url === '/pos/v2/swipe') {
      const amount_fen = pending.get(body.card_no ?? '') ?? 0;
      answer = { card_status: 'active', pending_fen: amount_fen, offer_fen: amount_fen, settle: null };
    } else if (req.url === '/pos/v2/loads') {
      pending.delete(body.card_no!);
      claim_seq += 1;
      const claim_id = `clm_${claim_seq.toString(16).padStart(24, '0')}`;
      const claim = { card_no: body.card_no!, balance_after_fen: body.init!.balance_fen + body.amount_fen!, online_serial_after: body.init!.online_serial + 1 };
      reserved.set(claim_id, claim);
      answer = { claim_id, amount_fen: body.amount_fen, mac2: '00000000', balance_after_fen: claim.balance_after_fen, online_serial_after: claim.online_serial_after };
    } else {
      const claim_id = req.url!.split('/')[4]!;
      const claim = reserved.get(claim_id);
      reserved.delete(claim_id);
      answer = { claim_id, status: 'committed', balance_after_fen: claim?.balance_after_fen ?? 0, online_serial_after: claim?.online_serial_after ?? 0 };
    }
    const text = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address !== 'string') process.stdout.write(`bare listening ${address.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
