CREATE TABLE `cards` (
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`holder_name` text NOT NULL,
	`holder_name_key` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`balance_fen` integer,
	`balance_as_of_ms` integer,
	`updated_at_ms` integer NOT NULL,
	PRIMARY KEY(`school_id`, `card_no`),
	FOREIGN KEY (`school_id`) REFERENCES `schools`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`school_id` text NOT NULL,
	`kind` text NOT NULL,
	`ref` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `changes_school_seq` ON `changes` (`school_id`,`seq`);--> statement-breakpoint
CREATE TABLE `claims` (
	`id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`hub_id` text NOT NULL,
	`terminal_id` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`balance_after_fen` integer,
	`load_counter_after` integer,
	`committed_at_ms` integer NOT NULL,
	`received_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `claims_card` ON `claims` (`school_id`,`card_no`);--> statement-breakpoint
CREATE TABLE `credits` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`state` text NOT NULL,
	`claim_id` text,
	`void_requested_at_ms` integer,
	`created_at_ms` integer NOT NULL,
	`claimed_at_ms` integer,
	`voided_at_ms` integer,
	CONSTRAINT "credits_amount_positive" CHECK("credits"."amount_fen" > 0),
	CONSTRAINT "credits_claimed_has_claim" CHECK(("credits"."state" = 'claimed') = ("credits"."claim_id" IS NOT NULL))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credits_order` ON `credits` (`order_id`);--> statement-breakpoint
CREATE INDEX `credits_card_state` ON `credits` (`school_id`,`card_no`,`state`);--> statement-breakpoint
CREATE INDEX `credits_state_created` ON `credits` (`state`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `credits_claim` ON `credits` (`claim_id`);--> statement-breakpoint
CREATE TABLE `hubs` (
	`id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`public_key` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`last_seen_at_ms` integer,
	`last_cursor` integer
);
--> statement-breakpoint
CREATE TABLE `notifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel` text NOT NULL,
	`received_at_ms` integer NOT NULL,
	`order_id` text,
	`verdict` text NOT NULL,
	`reason` text,
	`headers` text,
	`body` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `notifications_order` ON `notifications` (`order_id`);--> statement-breakpoint
CREATE INDEX `notifications_received` ON `notifications` (`received_at_ms`);--> statement-breakpoint
CREATE TABLE `orders` (
	`id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`channel` text NOT NULL,
	`origin` text DEFAULT 'topup' NOT NULL,
	`status` text NOT NULL,
	`notify_phone` text,
	`provider_trade_no` text,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`paid_at_ms` integer,
	`closed_at_ms` integer,
	`refunded_at_ms` integer,
	`expiry_attempts` integer DEFAULT 0 NOT NULL,
	CONSTRAINT "orders_amount_positive" CHECK("orders"."amount_fen" > 0)
);
--> statement-breakpoint
CREATE INDEX `orders_card_created` ON `orders` (`school_id`,`card_no`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `orders_status_expires` ON `orders` (`status`,`expires_at_ms`);--> statement-breakpoint
CREATE INDEX `orders_created` ON `orders` (`created_at_ms`);--> statement-breakpoint
CREATE TABLE `schools` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`city` text NOT NULL,
	`initial` text NOT NULL,
	`max_amount_fen` integer DEFAULT 100000 NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
