CREATE TABLE "conversations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" varchar(128) NOT NULL,
	"title" varchar(500) DEFAULT 'New Conversation' NOT NULL,
	"starred" boolean DEFAULT false NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "conversations_message_count_check" CHECK ("conversations"."message_count" >= 0)
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"conversation_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"role" varchar(16) NOT NULL,
	"content" text,
	"stage1" jsonb,
	"stage2" jsonb,
	"stage3" jsonb,
	"metadata" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "messages_role_check" CHECK ("messages"."role" in ('user', 'assistant')),
	CONSTRAINT "messages_position_check" CHECK ("messages"."position" >= 0)
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"user_id" varchar(128) PRIMARY KEY NOT NULL,
	"tier" varchar(64) DEFAULT 'free' NOT NULL,
	"daily_used" integer DEFAULT 0 NOT NULL,
	"daily_limit" integer,
	"monthly_used" integer DEFAULT 0 NOT NULL,
	"monthly_limit" integer,
	"total_queries" bigint DEFAULT 0 NOT NULL,
	"last_reset_daily" date DEFAULT (now() at time zone 'utc')::date NOT NULL,
	"last_reset_monthly" date DEFAULT (now() at time zone 'utc')::date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_counters_check" CHECK ("usage"."daily_used" >= 0 and "usage"."monthly_used" >= 0 and "usage"."total_queries" >= 0)
);
--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "conversations_user_recent_idx" ON "conversations" USING btree ("user_id","updated_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "conversations_user_starred_recent_idx" ON "conversations" USING btree ("user_id","starred","updated_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE UNIQUE INDEX "messages_conversation_position_idx" ON "messages" USING btree ("conversation_id","position");