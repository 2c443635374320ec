// The bench campus's cards: `C<i>`, with an asn derived from the index (as a registry would
// hold it), so the seeding, the driver's personalised chips and the bare server agree.
export function benchAsn(index: number): string {
  return `BE${index.toString(16).toUpperCase().padStart(14, '0')}`;
}
