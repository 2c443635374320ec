// Auto top-up through the Worker's API (protocol/auto-topup.ts): the card's agreement, signing
// (the answer is Alipay's signing page) and cancelling, with the saved card's token.
import type { AutoTopupAgreement, AutoTopupResponse, AutoTopupSigned } from '../../../protocol/auto-topup.ts';
import type { AutoTopupTerms } from '../components/AutoTopup.tsx';
import { request } from './api.ts';
import type { SavedCard } from './db.ts';

export async function loadAutoTopup(card: SavedCard): Promise<AutoTopupAgreement | null> {
  const response = await request<AutoTopupResponse>('GET', `/api/v1/auto-topup/agreements?card_token=${encodeURIComponent(card.card_token)}`);
  return response.agreement;
}

export async function signAutoTopup(card: SavedCard, terms: AutoTopupTerms): Promise<string> {
  const signed = await request<AutoTopupSigned>('POST', '/api/v1/auto-topup/agreements', { card_token: card.card_token, ...terms });
  return signed.sign_url;
}

export async function cancelAutoTopup(card: SavedCard, agreement_id: string): Promise<AutoTopupAgreement | null> {
  const response = await request<AutoTopupResponse>('POST', `/api/v1/auto-topup/agreements/${encodeURIComponent(agreement_id)}/cancel`, {
    card_token: card.card_token,
  });
  return response.agreement;
}
