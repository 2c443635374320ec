CREATE TABLE `notices` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`order_id` text NOT NULL,
	`school_id` text NOT NULL,
	`kind` text NOT NULL,
	`phone` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`provider_biz_id` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`sent_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `notices_order_kind` ON `notices` (`order_id`,`kind`);--> statement-breakpoint
CREATE INDEX `notices_state_updated` ON `notices` (`state`,`updated_at_ms`);