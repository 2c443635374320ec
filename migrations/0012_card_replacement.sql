CREATE TABLE `card_replacements` (
	`id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`old_card_no` text NOT NULL,
	`new_card_no` text NOT NULL,
	`new_asn` text NOT NULL,
	`actor` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `card_replacements_old` ON `card_replacements` (`school_id`,`old_card_no`);--> statement-breakpoint
CREATE UNIQUE INDEX `card_replacements_new` ON `card_replacements` (`school_id`,`new_card_no`);--> statement-breakpoint
CREATE TABLE `credit_moves` (
	`credit_id` text PRIMARY KEY NOT NULL,
	`replacement_id` text NOT NULL,
	`school_id` text NOT NULL,
	`to_card_no` text NOT NULL,
	`new_credit_id` text NOT NULL,
	`state` text NOT NULL,
	`route` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `credit_moves_replacement` ON `credit_moves` (`replacement_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `credit_moves_new_credit` ON `credit_moves` (`new_credit_id`);--> statement-breakpoint
DROP INDEX `credits_order`;--> statement-breakpoint
ALTER TABLE `credits` ADD `moved_from_credit_id` text;--> statement-breakpoint
ALTER TABLE `credits` ADD `moved_at_ms` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `credits_moved_from` ON `credits` (`moved_from_credit_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `credits_order` ON `credits` (`order_id`) WHERE state <> 'moved';