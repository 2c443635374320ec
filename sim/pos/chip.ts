// A PBOC-style electronic purse: the chip keeps its balance and a load counter that rises by
// one with every load. It is the truth about what was written.
import type { ChipState, LoadOffer } from '../../protocol/pos.ts';

export class Chip {
  balance_fen: number;
  load_counter: number;

  constructor(state: ChipState = { balance_fen: 0, load_counter: 0 }) {
    this.balance_fen = state.balance_fen;
    this.load_counter = state.load_counter;
  }

  read(): ChipState {
    return { balance_fen: this.balance_fen, load_counter: this.load_counter };
  }

  /** Writes a load the way a card does: all or nothing, counter +1. */
  load(offer: LoadOffer): void {
    if (offer.load_counter_after !== this.load_counter + 1) {
      throw new Error(`chip refuses load: counter ${this.load_counter}, offer expects ${offer.load_counter_after - 1}`);
    }
    if (offer.balance_after_fen !== this.balance_fen + offer.amount_fen) {
      throw new Error(`chip refuses load: balance ${this.balance_fen} + ${offer.amount_fen} ≠ ${offer.balance_after_fen}`);
    }
    this.balance_fen = offer.balance_after_fen;
    this.load_counter = offer.load_counter_after;
  }

  /** A purchase at the till: no load counter change. */
  spend(amount_fen: number): void {
    if (!(Number.isSafeInteger(amount_fen) && amount_fen > 0 && amount_fen <= this.balance_fen)) throw new Error('insufficient balance');
    this.balance_fen -= amount_fen;
  }
}
