CREATE TABLE `card_holds` (
	`hub_id` text NOT NULL,
	`card_no` text NOT NULL,
	`school_id` text NOT NULL,
	`status` text NOT NULL,
	`online_serial_seen` integer NOT NULL,
	`online_serial_recorded` integer NOT NULL,
	`balance_fen` integer NOT NULL,
	`seen_at_ms` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	`reported_at_ms` integer NOT NULL,
	`online_serial_settled` integer,
	`settled_credit_ids` text,
	`evidence` text,
	`actor` text,
	`settled_at_ms` integer,
	`resolved_at_ms` integer,
	PRIMARY KEY(`hub_id`, `card_no`)
);
--> statement-breakpoint
CREATE INDEX `card_holds_school_status` ON `card_holds` (`school_id`,`status`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `card_holds_status` ON `card_holds` (`status`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `card_holds_card` ON `card_holds` (`school_id`,`card_no`);