// Card replacement (补卡) and a holder's loss report (挂失): shapes of the admin, console and
// public routes. A replacement closes the old number, issues a new one with its chip's asn,
// and moves the old card's pending credits to it through the ledger.
import { z } from 'zod';
import { schoolId } from './api.ts';
import { CARD_NO_LENGTH_MAX } from './card.ts';

// The chip's application serial number: 16 hex digits; stored upper-case, as the registry does.
export const ASN_INPUT_PATTERN = /^[0-9A-Fa-f]{16}$/;
export const REPLACEMENT_ID_PATTERN = /^P[0-9A-Za-z]{10,31}$/;

export const cardReplaceRequest = z.strictObject({
  new_card_no: z.string().min(1).max(CARD_NO_LENGTH_MAX * 2),
  new_asn: z.string().regex(ASN_INPUT_PATTERN, 'new_asn is the chip serial, 16 hex digits').transform((asn) => asn.toUpperCase()),
});
export type CardReplaceRequest = z.input<typeof cardReplaceRequest>;
/** The console's form: the school is named in the body, as in its other card actions. */
export const consoleCardReplaceRequest = cardReplaceRequest.extend({ school_id: schoolId });
export type ConsoleCardReplaceRequest = z.input<typeof consoleCardReplaceRequest>;

/** One pending credit of the replaced card and where its move stands. */
export interface CreditMoveView {
  credit_id: string;
  /** The new card's credit, once moved. */
  new_credit_id: string | null;
  order_id: string;
  amount_fen: number;
  /**
   * requested: waiting for the owning hub's void answer; moved: the money is the new card's;
   * refused: the hub had already loaded it onto the old card's chip (the money is there).
   */
  state: 'requested' | 'moved' | 'refused';
  route: 'direct' | 'hub';
}

export interface CardReplacementView {
  replacement_id: string;
  school_id: string;
  old_card_no: string;
  new_card_no: string;
  new_asn: string;
  actor: string;
  created_at_ms: number;
  /** Credit ids waiting for their hub. */
  moving: string[];
  /** Credit ids (of the old card) whose money is now the new card's. */
  moved: string[];
  /** Credit ids the hub had already loaded onto the old card: tell the holder the money is on it. */
  refused: string[];
  credits: CreditMoveView[];
}

export const reportLostRequest = z.strictObject({ card_token: z.string().min(1).max(512) });
export type ReportLostRequest = z.infer<typeof reportLostRequest>;
export interface ReportLostResponse {
  school_id: string;
  card_no: string;
  status: 'lost';
  /** False when the card was already reported lost: nothing changed. */
  changed: boolean;
}
