-- A card's kind sets its purse limit and its asn the keys the hub derives (POS v2): the hub
-- must hear of either change as it hears of a status change, in the same transaction.
CREATE TRIGGER changes_card_kind_asn AFTER UPDATE OF kind, asn ON cards
WHEN OLD.kind IS NOT NEW.kind OR OLD.asn IS NOT NEW.asn
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'card', NEW.card_no, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
