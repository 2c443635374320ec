// RSASSA-PKCS1-v1_5 with SHA-256 ("RSA2" at Alipay, "SHA256-RSA2048" at WeChat Pay), WebCrypto
// only, so the Worker, the simulated gateway and the tests sign and verify with one code path.
import { base64ToBytes, bytesToBase64, utf8 } from './encoding.ts';

const RSA_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/** Accepts PEM (any label) or bare base64 of the DER body, as providers hand keys out both ways. */
export function pemToDer(keyText: string): Uint8Array<ArrayBuffer> {
  const body = keyText.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  if (body.length === 0) throw new TypeError('empty key');
  return base64ToBytes(body);
}

export function derToPem(der: Uint8Array, label: 'PUBLIC KEY' | 'PRIVATE KEY'): string {
  const lines = bytesToBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function importRsaPrivateKey(pkcs8: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('pkcs8', pemToDer(pkcs8), RSA_ALGORITHM, false, ['sign']);
}

export function importRsaPublicKey(spki: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('spki', pemToDer(spki), RSA_ALGORITHM, false, ['verify']);
}

/** Base64 signature of the UTF-8 bytes of `message`. */
export async function rsaSign(key: CryptoKey, message: string): Promise<string> {
  const signature = await crypto.subtle.sign(RSA_ALGORITHM, key, utf8(message));
  return bytesToBase64(new Uint8Array(signature));
}

/** False, never a throw, for a signature that is not even base64: callers treat both alike. */
export async function rsaVerify(key: CryptoKey, message: string, signature_base64: string): Promise<boolean> {
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = base64ToBytes(signature_base64);
  } catch {
    return false;
  }
  if (signature.length === 0) return false;
  return crypto.subtle.verify(RSA_ALGORITHM, key, signature, utf8(message));
}

export interface RsaKeyPairText {
  /** PKCS#8, PEM. */
  private_key: string;
  /** SPKI, bare base64 (the form both providers print in their consoles). */
  public_key: string;
}

export async function generateRsaKeyPair(): Promise<RsaKeyPairText> {
  const pair = (await crypto.subtle.generateKey(
    { ...RSA_ALGORITHM, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey) as ArrayBuffer);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey) as ArrayBuffer);
  return { private_key: derToPem(pkcs8, 'PRIVATE KEY'), public_key: bytesToBase64(spki) };
}
