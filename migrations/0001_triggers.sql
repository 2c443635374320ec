-- The changes feed is written by the database itself, in the same transaction as the change,
-- so no code path can create a credit, request a void or change a card without the hub hearing.
CREATE TRIGGER changes_credit_insert AFTER INSERT ON credits
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'credit', NEW.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER changes_credit_void_request AFTER UPDATE OF void_requested_at_ms ON credits
WHEN OLD.void_requested_at_ms IS NULL AND NEW.void_requested_at_ms IS NOT NULL
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'void', NEW.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER changes_card_insert AFTER INSERT ON cards
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'card', NEW.card_no, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER changes_card_status AFTER UPDATE OF status ON cards
WHEN OLD.status <> NEW.status
BEGIN
  INSERT INTO changes (school_id, kind, ref, created_at_ms)
  VALUES (NEW.school_id, 'card', NEW.card_no, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
