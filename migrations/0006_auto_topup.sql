CREATE TABLE `agreements` (
	`id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`channel` text NOT NULL,
	`state` text NOT NULL,
	`stop_reason` text,
	`provider_agreement_no` text,
	`provider_user_id` text,
	`threshold_fen` integer NOT NULL,
	`amount_fen` integer NOT NULL,
	`daily_cap_fen` integer NOT NULL,
	`notify_phone` text,
	`last_error` text,
	`created_at_ms` integer NOT NULL,
	`signed_at_ms` integer,
	`stopped_at_ms` integer,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "agreements_amounts" CHECK("agreements"."amount_fen" > 0 AND "agreements"."threshold_fen" >= 0 AND "agreements"."daily_cap_fen" >= "agreements"."amount_fen")
);
--> statement-breakpoint
CREATE INDEX `agreements_card` ON `agreements` (`school_id`,`card_no`,`created_at_ms`);--> statement-breakpoint
CREATE UNIQUE INDEX `agreements_card_live` ON `agreements` (`school_id`,`card_no`) WHERE state <> 'stopped';--> statement-breakpoint
CREATE TABLE `auto_charges` (
	`order_id` text PRIMARY KEY NOT NULL,
	`agreement_id` text NOT NULL,
	`school_id` text NOT NULL,
	`card_no` text NOT NULL,
	`slot` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`failure` text,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `auto_charges_card_slot` ON `auto_charges` (`school_id`,`card_no`,`slot`);--> statement-breakpoint
CREATE INDEX `auto_charges_agreement` ON `auto_charges` (`agreement_id`);