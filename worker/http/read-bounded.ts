// Reading a body with a bound on its size, refused as soon as it passes the bound: a client, a
// hub or a provider (or whoever answers in its place) cannot make the Worker buffer more.

/** The stream's bytes, or null once more than `bytes_max` arrived (the rest is never read). */
export async function readStreamBounded(stream: ReadableStream<Uint8Array> | null, bytes_max: number): Promise<Uint8Array | null> {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Each read returns at least one byte until done, so bytes_max + 1 reads bound the loop.
  for (let reads = 0; reads <= bytes_max + 1; reads++) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > bytes_max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A fetched response's body under the same bound, its declared length checked first. */
export async function readBounded(response: Response, bytes_max: number): Promise<Uint8Array | null> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > bytes_max) {
    await response.body?.cancel();
    return null;
  }
  return readStreamBounded(response.body, bytes_max);
}
