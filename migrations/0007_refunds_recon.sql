CREATE TABLE `reconciliation_repairs` (
	`bill_date` text NOT NULL,
	`channel` text NOT NULL,
	`school_id` text NOT NULL,
	`kind` text NOT NULL,
	`order_id` text NOT NULL,
	`refund_id` text,
	`provider_trade_no` text NOT NULL,
	`amount_fen` integer NOT NULL,
	`repaired_at_ms` integer NOT NULL,
	PRIMARY KEY(`bill_date`, `channel`, `kind`, `order_id`)
);
--> statement-breakpoint
CREATE INDEX `reconciliation_repairs_school` ON `reconciliation_repairs` (`bill_date`,`school_id`);--> statement-breakpoint
CREATE TABLE `reconciliations` (
	`bill_date` text NOT NULL,
	`channel` text NOT NULL,
	`school_id` text NOT NULL,
	`day_start_ms` integer NOT NULL,
	`status` text NOT NULL,
	`bill_total_fen` integer NOT NULL,
	`ours_total_fen` integer NOT NULL,
	`fee_fen` integer NOT NULL,
	`net_fen` integer NOT NULL,
	`bill_rows` integer NOT NULL,
	`discrepancy_count` integer NOT NULL,
	`discrepancies` text NOT NULL,
	`error` text,
	`first_run_at_ms` integer NOT NULL,
	PRIMARY KEY(`bill_date`, `channel`, `school_id`)
);
--> statement-breakpoint
ALTER TABLE `orders` ADD `next_query_at_ms` integer;--> statement-breakpoint
CREATE INDEX `orders_channel_paid` ON `orders` (`channel`,`paid_at_ms`);--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_status` text;--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_refund_no` text;--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_bill_at_ms` integer;--> statement-breakpoint
ALTER TABLE `refunds` ADD `failed_at_ms` integer;--> statement-breakpoint
CREATE INDEX `refunds_bill_at` ON `refunds` (`provider_bill_at_ms`);