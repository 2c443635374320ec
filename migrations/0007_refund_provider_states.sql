ALTER TABLE `orders` ADD `next_query_at_ms` integer;--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_status` text;--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_refund_no` text;--> statement-breakpoint
ALTER TABLE `refunds` ADD `provider_bill_at_ms` integer;--> statement-breakpoint
ALTER TABLE `refunds` ADD `failed_at_ms` integer;