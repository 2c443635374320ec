-- The card office's settlement of a hub's card hold reaches that hub through the changes feed,
-- written by the database in the same transaction as the settlement (protocol/hub.ts, "Card
-- holds"): the hub sets the card's serial record, claims what the office found on the card and
-- lifts the freeze.
CREATE TRIGGER changes_card_hold_settled AFTER UPDATE OF status ON card_holds
WHEN NEW.status = 'settled' AND OLD.status IS NOT 'settled'
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'hold', NEW.card_no, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
