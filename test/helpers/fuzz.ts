// Generated hostile input for the fuzz tests of the Worker and the hub (fast-check): strings,
// numbers and JSON values that have broken parsers and databases before, and "almost valid"
// bodies (a real request with some fields deleted, retyped or replaced), so most cases get past
// the first check and reach the handler. Pure fast-check: runs in Node and in workerd.
import fc from 'fast-check';

export type Json = Record<string, unknown>;

/** Values that have broken parsers, SQL and encoders before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\t\n',
  "'; DROP TABLE orders;--",
  '" OR 1=1 --',
  '%00',
  '%',
  '%zz',
  '%E4%B8',
  '\u0000',
  '\uFFFF',
  '\uFEFF张三',
  '\uD800',
  '\uDFFF\uD800',
  '𠮷野家',
  '張三',
  '张 三',
  'Ｚｈａｎｇ',
  'ﬁ',
  '\u202Eevil',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e999',
  '0x10',
  '../../etc/passwd',
  '${7*7}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  '\r\nX-Injected: 1',
] as const;

export const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  0.1,
  0.5,
  1.5,
  99.999,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 64,
  1e20,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_VALUE,
] as const;

/** Any string: ASCII, full unicode (lone surrogates included), graphemes, long, or a known bad one. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 200, maxLength: 3_000 }) },
);

export const anyNumber: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_NUMBERS) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
);

/** Any JSON value, biased towards the scalars a schema must refuse. */
export const anyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: anyString },
  { weight: 3, arbitrary: anyNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** A string of printable ASCII: what a header value or a URL segment can carry as it is. */
export const headerSafeString = (maxLength = 64): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength });

const KEEP = Symbol('keep');
const DROP = Symbol('drop');

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `valid` with a few fields (often none, rarely many) dropped or replaced by any JSON value or
 * by what `fields` offers for them (near-valid values that reach deeper checks); nested objects
 * and arrays of objects are mutated the same way, and now and then unknown fields are added.
 */
export function mutatedObject(valid: Json, fields: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<Json> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, value] of Object.entries(valid)) {
    const options: fc.WeightedArbitrary<unknown>[] = [
      // Each field is left alone most of the time, so a case usually differs in one or two.
      { weight: 24, arbitrary: fc.constant(KEEP) },
      { weight: 1, arbitrary: fc.constant(DROP) },
      { weight: 2, arbitrary: anyJsonValue },
    ];
    const special = fields[key];
    if (special !== undefined) options.push({ weight: 4, arbitrary: special });
    if (isPlainObject(value)) options.push({ weight: 4, arbitrary: mutatedObject(value, fields) });
    if (Array.isArray(value) && isPlainObject(value[0])) {
      const item = mutatedObject(value[0], fields);
      options.push({ weight: 4, arbitrary: fc.array(item, { minLength: 1, maxLength: 4 }) });
      options.push({ weight: 1, arbitrary: fc.array(fc.oneof(item, anyJsonValue), { maxLength: 4 }) });
    }
    parts[key] = fc.oneof(...options);
  }
  const extra = fc.oneof(
    { weight: 8, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra'), fc.string({ maxLength: 8 })), anyJsonValue, { minKeys: 1, maxKeys: 2 }) },
  );
  return fc.record({ fields: fc.record(parts), extra }).map(({ fields: chosen, extra: added }) => {
    const out: Json = {};
    for (const [key, value] of Object.entries(valid)) {
      const pick = chosen[key];
      if (pick === DROP) continue;
      // Through defineProperty, so a generated "__proto__" is a field, not a prototype.
      Object.defineProperty(out, key, { value: pick === KEEP ? value : pick, enumerable: true, writable: true, configurable: true });
    }
    for (const [key, value] of Object.entries(added)) {
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });
}

export interface FuzzBody {
  body: string | Uint8Array;
  content_type: string | null;
  /** What the case is, for the failure message. */
  kind: string;
}

export const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/JSON'] as const;

/** A content type: mostly JSON's, sometimes another or none at all. */
export const contentType = (usual: readonly string[] = JSON_TYPES): fc.Arbitrary<string | null> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...usual) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<string | null>(
        null,
        'text/plain',
        'application/x-www-form-urlencoded',
        'text/csv',
        'multipart/form-data; boundary=x',
        'application/json; charset=gbk',
        'application/jsonx',
        '',
      ),
    },
  );

/**
 * A JSON request body: the valid example mutated (most cases), or not JSON at all, JSON of
 * another shape, cut off, not UTF-8, deeply nested, or past `bytes_max`.
 */
export function jsonBody(valid: Json, options: { fields?: Record<string, fc.Arbitrary<unknown>>; bytes_max: number }): fc.Arbitrary<FuzzBody> {
  const mutated = mutatedObject(valid, options.fields);
  const text: fc.Arbitrary<{ body: string | Uint8Array; kind: string }> = fc.oneof(
    { weight: 12, arbitrary: mutated.map((value) => ({ body: JSON.stringify(value), kind: 'mutated' })) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((body) => ({ body, kind: 'other JSON' })) },
    { weight: 1, arbitrary: anyString.map((body) => ({ body, kind: 'not JSON' })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((body) => ({ body, kind: 'bytes' })) },
    {
      weight: 1,
      arbitrary: mutated.chain((value) => {
        const whole = JSON.stringify(value);
        return fc.nat({ max: Math.max(0, whole.length - 1) }).map((cut) => ({ body: whole.slice(0, cut), kind: 'cut off' }));
      }),
    },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((depth) => ({ body: '['.repeat(depth) + ']'.repeat(depth), kind: 'deep' })) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: options.bytes_max, max: options.bytes_max + 4_096 })
        .map((bytes) => ({ body: JSON.stringify({ ...valid, padding: 'x'.repeat(bytes) }), kind: 'over the limit' })),
    },
  );
  return fc.record({ text, content_type: contentType() }).map(({ text: { body, kind }, content_type }) => ({ body, content_type, kind }));
}

/** A query string from `valid` params mutated (values replaced, dropped, repeated, added), or raw garbage. */
export function queryString(valid: Record<string, string>, fields: Record<string, fc.Arbitrary<string>> = {}): fc.Arbitrary<string> {
  // Own keys only: a generated name such as "toString" must not find Object.prototype's.
  const value = (key: string) =>
    fc.oneof(
      ...(Object.hasOwn(valid, key) ? [{ weight: 4, arbitrary: fc.constant(valid[key]!) }] : []),
      { weight: 1, arbitrary: anyString },
      ...(Object.hasOwn(fields, key) ? [{ weight: 3, arbitrary: fields[key]! }] : []),
    );
  const keys = [...new Set([...Object.keys(valid), ...Object.keys(fields)])];
  const structured = fc
    .record({
      pairs: fc.oneof(
        { weight: 3, arbitrary: fc.array(fc.constantFrom(...(keys.length > 0 ? keys : ['q'])), { maxLength: 3 }) },
        { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 }) },
      ),
      base: fc.oneof({ weight: 4, arbitrary: fc.constant(Object.keys(valid)) }, { weight: 1, arbitrary: fc.subarray(Object.keys(valid)) }),
    })
    .chain(({ pairs, base }) => fc.tuple(...[...base, ...pairs].map((key) => value(key).map((v) => [key, v] as [string, string]))))
    .map((entries) => {
      const params = new URLSearchParams();
      for (const [key, v] of entries) params.append(key, v);
      const text = params.toString();
      return text === '' ? '' : `?${text}`;
    });
  const raw = fc.oneof(
    fc.constantFrom('?', '?&&&', '?=', '?%', '?a=%zz', '?a=%E4%B8', '?a=1&a=2', `?${'a=1&'.repeat(2_000)}`, '?%00=%00', '?a[]=1', '?a[b]=c'),
    headerSafeString(80).map((text) => `?${text.replace(/#/g, '')}`),
  );
  return fc.oneof({ weight: 6, arbitrary: structured }, { weight: 1, arbitrary: raw });
}

/** A path segment in place of an id: the valid one, near-valid ones, or anything, percent-encoded or raw. */
export function pathSegment(valid: string, near: fc.Arbitrary<string> = fc.constant(valid)): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(valid) },
    { weight: 3, arbitrary: near },
    { weight: 2, arbitrary: anyString.map((text) => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '\uFFFD')) || 'x') },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E4%B8', '%00', '..', '.', '%2F', '%252F', 'a;b', "x'--") },
  );
}

/** An IPv6 address as eight hextets, written in any of the forms RFC 4291 allows. */
export const hextets = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });

export function ipv6Text(words: number[], form: { zeros: boolean; upper: boolean; compress: boolean; ipv4_tail: boolean; zone: string | null }): string {
  const hex = (w: number) => (form.zeros ? w.toString(16).padStart(4, '0') : w.toString(16));
  const groups = words.map(hex);
  let tail: string[] = [];
  if (form.ipv4_tail) {
    const [high, low] = [words[6]!, words[7]!];
    groups.splice(6, 2);
    tail = [`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`];
  }
  let text = [...groups, ...tail].join(':');
  if (form.compress) {
    // The longest run of zero groups (two or more) becomes "::", as RFC 5952 writes it.
    let best = { at: -1, length: 1 };
    for (let i = 0; i < groups.length; i++) {
      let j = i;
      while (j < groups.length && Number.parseInt(groups[j]!, 16) === 0) j++;
      if (j - i > best.length) best = { at: i, length: j - i };
    }
    if (best.at >= 0) {
      const head = groups.slice(0, best.at).join(':');
      const rest = [...groups.slice(best.at + best.length), ...tail].join(':');
      text = `${head}::${rest}`;
    }
  }
  if (form.upper) text = text.toUpperCase();
  return form.zone === null ? text : `${text}%${form.zone}`;
}

export const ipv6Form = fc.record({
  zeros: fc.boolean(),
  upper: fc.boolean(),
  compress: fc.boolean(),
  ipv4_tail: fc.boolean(),
  zone: fc.option(fc.constantFrom('eth0', '1', 'wlan0'), { freq: 4 }),
});
// Not IPv4-mapped (::ffff:0:0/96), which keys as the IPv4 address it carries.
export const globalHextets = hextets.filter((w) => !(w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff));
