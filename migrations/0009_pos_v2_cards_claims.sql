ALTER TABLE `claims` RENAME COLUMN "load_counter_after" TO "online_serial_after";--> statement-breakpoint
ALTER TABLE `grey_records` RENAME COLUMN "load_counter_after" TO "online_serial_after";--> statement-breakpoint
ALTER TABLE `claims` ADD `card_terminal_id` text;--> statement-breakpoint
ALTER TABLE `claims` ADD `proof_kind` text;--> statement-breakpoint
ALTER TABLE `claims` ADD `proof_tac` text;--> statement-breakpoint
ALTER TABLE `claims` ADD `online_serial_seen` integer;--> statement-breakpoint
ALTER TABLE `cards` ADD `online_serial` integer;--> statement-breakpoint
ALTER TABLE `cards` ADD `asn` text;--> statement-breakpoint
CREATE UNIQUE INDEX `cards_school_asn` ON `cards` (`school_id`,`asn`);