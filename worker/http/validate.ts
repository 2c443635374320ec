// Reading request bodies and queries into typed values, or a 4xx that names the field.
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors.ts';

// No JSON body of the public or hub API comes near this; bigger is a mistake or an attack.
export const JSON_BODY_BYTES_MAX = 64 * 1024;

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

export async function readBodyText(c: Context, bytes_max: number): Promise<string> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > bytes_max) throw new ApiError(413, 'payload_too_large', `body exceeds ${bytes_max} bytes`);
  const buffer = await c.req.arrayBuffer();
  if (buffer.byteLength > bytes_max) throw new ApiError(413, 'payload_too_large', `body exceeds ${bytes_max} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buffer);
  } catch {
    throw new ApiError(400, 'invalid_body', 'body is not UTF-8');
  }
}

export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  const text = await readBodyText(c, JSON_BODY_BYTES_MAX);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'invalid_body', describeIssues(parsed.error));
  return parsed.data;
}

export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw new ApiError(400, 'invalid_query', describeIssues(parsed.error));
  return parsed.data;
}
