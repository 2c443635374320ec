-- SMS notices (DESIGN section 7): the outbox row is written by the same transaction as the
-- ledger change it reports, so a paid, loaded or refunded order with a phone number cannot
-- miss its notice, and no code path has to remember to write one. INSERT OR IGNORE with the
-- unique (order_id, kind) index: each event is noticed once.
CREATE TRIGGER notices_credit_minted AFTER INSERT ON credits
BEGIN
  INSERT OR IGNORE INTO notices (order_id, school_id, kind, phone, state, attempts, created_at_ms, updated_at_ms)
  SELECT o.id, o.school_id, CASE WHEN o.origin = 'auto' THEN 'auto_charged' ELSE 'paid' END, o.notify_phone, 'pending', 0,
         CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)
    FROM orders o WHERE o.id = NEW.order_id AND o.notify_phone IS NOT NULL;
END;
--> statement-breakpoint
CREATE TRIGGER notices_credit_claimed AFTER UPDATE OF state ON credits
WHEN OLD.state = 'pending' AND NEW.state = 'claimed'
BEGIN
  INSERT OR IGNORE INTO notices (order_id, school_id, kind, phone, state, attempts, created_at_ms, updated_at_ms)
  SELECT o.id, o.school_id, 'claimed', o.notify_phone, 'pending', 0,
         CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)
    FROM orders o WHERE o.id = NEW.order_id AND o.notify_phone IS NOT NULL;
END;
--> statement-breakpoint
CREATE TRIGGER notices_order_refunded AFTER UPDATE OF status ON orders
WHEN OLD.status <> 'refunded' AND NEW.status = 'refunded' AND NEW.notify_phone IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO notices (order_id, school_id, kind, phone, state, attempts, created_at_ms, updated_at_ms)
  VALUES (NEW.id, NEW.school_id, 'refunded', NEW.notify_phone, 'pending', 0,
          CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
