// The yardstick of `npm run bench:hub`: a bare node:http server that answers the POS routes
// with the same JSON from a Map, with no authentication, validation or durability. The hub's
// throughput is reported as a ratio of this one's.
import { createServer } from 'node:http';

const CARDS = Number(process.env.BENCH_CARDS ?? 200_000);
const CREDIT_EVERY = Number(process.env.BENCH_CREDIT_EVERY ?? 4);
const BODY_BYTES_MAX = 4096;

const pending = new Map<string, number>();
for (let i = 0; i < CARDS; i += CREDIT_EVERY) pending.set(`C${i}`, 10_000);
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
      chip?: { balance_fen: number; load_counter: number };
    };
    let answer: unknown;
    if (req.url === '/pos/v1/swipe') {
      const amount_fen = pending.get(body.card_no ?? '');
      if (amount_fen === undefined) answer = { card_status: 'active', load: null };
      else {
        pending.delete(body.card_no!);
        claim_seq += 1;
        answer = {
          card_status: 'active',
          load: {
            claim_id: `clm_${claim_seq}`,
            amount_fen,
            balance_after_fen: body.chip!.balance_fen + amount_fen,
            load_counter_after: body.chip!.load_counter + 1,
          },
        };
      }
    } else {
      answer = { claim_id: req.url!.split('/')[4], status: 'committed' };
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
