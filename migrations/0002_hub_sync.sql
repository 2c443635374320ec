CREATE TABLE `claim_rejections` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`hub_id` text NOT NULL,
	`school_id` text NOT NULL,
	`claim_id` text NOT NULL,
	`card_no` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`reason` text NOT NULL,
	`body` text NOT NULL,
	`received_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `claim_rejections_hub_claim` ON `claim_rejections` (`hub_id`,`claim_id`);--> statement-breakpoint
CREATE INDEX `claim_rejections_received` ON `claim_rejections` (`received_at_ms`);--> statement-breakpoint
CREATE TABLE `grey_records` (
	`hub_id` text NOT NULL,
	`claim_id` text NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`terminal_id` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`credit_ids` text NOT NULL,
	`load_counter_after` integer NOT NULL,
	`reserved_at_ms` integer NOT NULL,
	`status` text NOT NULL,
	`reported_at_ms` integer NOT NULL,
	`resolved_at_ms` integer,
	PRIMARY KEY(`hub_id`, `claim_id`)
);
--> statement-breakpoint
CREATE INDEX `grey_records_claim` ON `grey_records` (`claim_id`);--> statement-breakpoint
CREATE INDEX `grey_records_status_reserved` ON `grey_records` (`status`,`reserved_at_ms`);--> statement-breakpoint
CREATE TABLE `hub_nonces` (
	`hub_id` text NOT NULL,
	`nonce` text NOT NULL,
	`expires_at_ms` integer NOT NULL,
	PRIMARY KEY(`hub_id`, `nonce`)
);
--> statement-breakpoint
CREATE INDEX `hub_nonces_expires` ON `hub_nonces` (`expires_at_ms`);--> statement-breakpoint
CREATE TABLE `refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`credit_id` text NOT NULL,
	`school_id` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`state` text NOT NULL,
	`route` text,
	`reason` text,
	`provider_attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`voided_at_ms` integer,
	`refunded_at_ms` integer,
	CONSTRAINT "refunds_amount_positive" CHECK("refunds"."amount_fen" > 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `refunds_order` ON `refunds` (`order_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `refunds_credit` ON `refunds` (`credit_id`);--> statement-breakpoint
CREATE INDEX `refunds_state_updated` ON `refunds` (`state`,`updated_at_ms`);--> statement-breakpoint
ALTER TABLE `hubs` ADD `sent_through_seq` integer;--> statement-breakpoint
CREATE INDEX `changes_ref_kind` ON `changes` (`ref`,`kind`);