CREATE TABLE "token_usage" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "token_usage_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" varchar(128) NOT NULL,
	"day" date NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"cost" numeric(20, 6) DEFAULT '0' NOT NULL,
	"calls" integer DEFAULT 0 NOT NULL,
	"unknown_calls" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "council" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "kind" varchar(16);--> statement-breakpoint
CREATE UNIQUE INDEX "token_usage_user_day_idx" ON "token_usage" USING btree ("user_id","day");--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_kind_check" CHECK ("messages"."kind" is null or ("messages"."kind" = 'follow_up' and "messages"."role" = 'user'));