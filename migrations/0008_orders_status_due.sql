-- The expiry cron's batch (worker/cron/expire.ts dueOrders): unpaid orders by the time they are
-- next due, which is their expiry until a provider that could not answer pushed them back.
CREATE INDEX `orders_status_due` ON `orders` (`status`, coalesce(`next_query_at_ms`, `expires_at_ms`));
