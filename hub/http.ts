// Small helpers over node:http: bounded body reads and the one error shape of every API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, type ErrorCode } from '../protocol/errors.ts';

export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  constructor(status: number, code: ErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Reads the whole body, refusing (413) as soon as it passes `bytes_max`. */
export function readBody(req: IncomingMessage, bytes_max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > bytes_max) {
    req.resume();
    return Promise.reject(new HttpError(413, 'payload_too_large', `body exceeds ${bytes_max} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      length += chunk.length;
      if (length > bytes_max) {
        refused = true;
        reject(new HttpError(413, 'payload_too_large', `body exceeds ${bytes_max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
    });
    // A terminal that hangs up mid-body: nothing was asked, nothing is done.
    req.on('error', () => reject(new HttpError(400, 'invalid_body', 'request body was cut off')));
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  sendJson(res, status, errorBody(code, message));
}

export function sendText(res: ServerResponse, status: number, content_type: string, text: string): void {
  res.writeHead(status, { 'content-type': content_type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
