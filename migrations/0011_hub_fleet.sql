CREATE TABLE `credit_handovers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`credit_id` text NOT NULL,
	`school_id` text NOT NULL,
	`from_hub_id` text NOT NULL,
	`reason` text NOT NULL,
	`moved_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `credit_handovers_from` ON `credit_handovers` (`from_hub_id`,`credit_id`);--> statement-breakpoint
CREATE INDEX `credit_handovers_credit` ON `credit_handovers` (`credit_id`);--> statement-breakpoint
CREATE TABLE `credit_settlements` (
	`credit_id` text PRIMARY KEY NOT NULL,
	`school_id` text NOT NULL,
	`hub_id` text NOT NULL,
	`decision` text NOT NULL,
	`evidence` text NOT NULL,
	`actor` text NOT NULL,
	`claim_id` text,
	`settled_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `hub_state_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`hub_id` text NOT NULL,
	`school_id` text NOT NULL,
	`from_state` text NOT NULL,
	`to_state` text NOT NULL,
	`reason` text NOT NULL,
	`at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `hub_state_events_hub` ON `hub_state_events` (`hub_id`,`id`);--> statement-breakpoint
CREATE TABLE `void_rejections` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`hub_id` text NOT NULL,
	`school_id` text NOT NULL,
	`credit_id` text NOT NULL,
	`result` text NOT NULL,
	`code` text NOT NULL,
	`reason` text NOT NULL,
	`received_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `void_rejections_hub_credit` ON `void_rejections` (`hub_id`,`credit_id`,`result`);--> statement-breakpoint
CREATE INDEX `void_rejections_received` ON `void_rejections` (`received_at_ms`);--> statement-breakpoint
ALTER TABLE `claim_rejections` ADD `code` text DEFAULT 'invalid' NOT NULL;--> statement-breakpoint
ALTER TABLE `credits` ADD `owner_hub_id` text;--> statement-breakpoint
ALTER TABLE `credits` ADD `void_hub_id` text;--> statement-breakpoint
CREATE INDEX `credits_owner` ON `credits` (`owner_hub_id`,`id`);--> statement-breakpoint
CREATE INDEX `credits_owner_state` ON `credits` (`owner_hub_id`,`state`,`amount_fen`);--> statement-breakpoint
ALTER TABLE `hubs` ADD `state` text DEFAULT 'active' NOT NULL;--> statement-breakpoint
ALTER TABLE `hubs` ADD `state_reason` text;--> statement-breakpoint
ALTER TABLE `hubs` ADD `state_changed_at_ms` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `hubs` ADD `durable_cursor` integer;--> statement-breakpoint
ALTER TABLE `hubs` ADD `drained_at_ms` integer;--> statement-breakpoint
-- Hand-added (keep when renumbering): hubs registered before states existed. The oldest hub of
-- each school stays active, later ones become standbys; then every credit a hub may hold gets
-- its owner: a claimed one the hub that claimed it, a pending one sent to the active hub (its
-- credit change at or below that hub's sent_through_seq).
UPDATE `hubs` SET `state` = 'standby' WHERE EXISTS (
  SELECT 1 FROM `hubs` h2 WHERE h2.school_id = hubs.school_id
     AND (h2.created_at_ms < hubs.created_at_ms OR (h2.created_at_ms = hubs.created_at_ms AND h2.id < hubs.id)));--> statement-breakpoint
UPDATE `credits` SET `owner_hub_id` = (SELECT cl.hub_id FROM `claims` cl WHERE cl.id = credits.claim_id)
 WHERE `state` = 'claimed';--> statement-breakpoint
UPDATE `credits` SET `owner_hub_id` = (
  SELECT h.id FROM `hubs` h WHERE h.school_id = credits.school_id AND h.state = 'active'
     AND COALESCE(h.sent_through_seq, 0) >= COALESCE((SELECT MIN(ch.seq) FROM `changes` ch WHERE ch.ref = credits.id AND ch.kind = 'credit'), 0))
 WHERE `state` = 'pending' AND `owner_hub_id` IS NULL;--> statement-breakpoint
UPDATE `hubs` SET `durable_cursor` = `last_cursor`;--> statement-breakpoint
CREATE UNIQUE INDEX `hubs_school_active` ON `hubs` (`school_id`) WHERE state = 'active';