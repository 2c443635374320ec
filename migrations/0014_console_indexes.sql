CREATE INDEX `credits_school_state_created` ON `credits` (`school_id`,`state`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `orders_school_id` ON `orders` (`school_id`,`id`);