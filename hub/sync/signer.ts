// Ed25519 request signing for the Worker's hub API (DESIGN section 6), with WebCrypto so the
// key handling is the same code path the Worker verifies with.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bytesToBase64, bytesToBase64Url, base64ToBytes } from '../../protocol/encoding.ts';
import {
  HUB_HEADER_ID,
  HUB_HEADER_NONCE,
  HUB_HEADER_SIGNATURE,
  HUB_HEADER_TIMESTAMP,
  hubSigningString,
} from '../../protocol/hub.ts';

const PEM_PRIVATE = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/;

export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const match = PEM_PRIVATE.exec(pem);
  if (match === null) throw new Error('key file is not a PKCS#8 PEM ("BEGIN PRIVATE KEY")');
  return crypto.subtle.importKey('pkcs8', base64ToBytes(match[1]!), { name: 'Ed25519' }, false, ['sign']);
}

export async function loadSigner(hub_id: string, key_file: string): Promise<HubSigner> {
  let pem: string;
  try {
    pem = readFileSync(key_file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read HUB_KEY_FILE ${key_file}: ${(error as Error).message} (run \`npm run hub -- keygen\`)`);
  }
  return new HubSigner(hub_id, await importPrivateKeyPem(pem));
}

export class HubSigner {
  readonly hub_id: string;
  readonly #key: CryptoKey;

  constructor(hub_id: string, key: CryptoKey) {
    this.hub_id = hub_id;
    this.#key = key;
  }

  /** The four X-Hub-* headers for one request; a fresh nonce every time. */
  async headers(method: string, path_and_query: string, body: string): Promise<Record<string, string>> {
    const timestamp_ms = Date.now();
    const nonce = bytesToBase64Url(randomBytes(18));
    const text = await hubSigningString({ hub_id: this.hub_id, method, path_and_query, timestamp_ms, nonce, body });
    const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', this.#key, new TextEncoder().encode(text)));
    return {
      [HUB_HEADER_ID]: this.hub_id,
      [HUB_HEADER_TIMESTAMP]: String(timestamp_ms),
      [HUB_HEADER_NONCE]: nonce,
      [HUB_HEADER_SIGNATURE]: bytesToBase64(signature),
    };
  }
}

/** A new key pair: the private half as PKCS#8 PEM, the public half as SPKI base64. */
export async function generateHubKeyPair(): Promise<{ private_pem: string; public_spki_base64: string }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  const body = bytesToBase64(pkcs8).replace(/(.{64})/g, '$1\n').trim();
  return { private_pem: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`, public_spki_base64: bytesToBase64(spki) };
}

/** The SPKI base64 public key of a PKCS#8 PEM Ed25519 private key file. */
export async function publicKeyOfFile(key_file: string): Promise<string> {
  const { createPrivateKey, createPublicKey } = await import('node:crypto');
  const pem = readFileSync(key_file, 'utf8');
  const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  return bytesToBase64(new Uint8Array(spki));
}
