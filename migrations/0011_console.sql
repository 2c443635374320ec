CREATE TABLE `console_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`operator_id` text NOT NULL,
	`school_id` text NOT NULL,
	`action` text NOT NULL,
	`target` text NOT NULL,
	`before_json` text,
	`after_json` text,
	`at_ms` integer NOT NULL,
	`address` text
);
--> statement-breakpoint
CREATE INDEX `console_audit_school` ON `console_audit` (`school_id`,`id`);--> statement-breakpoint
CREATE INDEX `console_audit_action_target` ON `console_audit` (`action`,`target`);--> statement-breakpoint
CREATE TABLE `operator_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`operator_id` text NOT NULL,
	`csrf_token` text NOT NULL,
	`method` text NOT NULL,
	`address` text,
	`user_agent` text,
	`created_at_ms` integer NOT NULL,
	`last_seen_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`revoked_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operator_sessions_token` ON `operator_sessions` (`token_hash`);--> statement-breakpoint
CREATE INDEX `operator_sessions_operator` ON `operator_sessions` (`operator_id`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `operators` (
	`id` text PRIMARY KEY NOT NULL,
	`display_name` text NOT NULL,
	`school_ids` text NOT NULL,
	`password_hash` text,
	`password_salt` text,
	`password_iterations` integer,
	`access_email` text,
	`disabled` integer DEFAULT false NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operators_access_email` ON `operators` (`access_email`);--> statement-breakpoint
CREATE INDEX `credits_school_state_created` ON `credits` (`school_id`,`state`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `orders_school_id` ON `orders` (`school_id`,`id`);