CREATE TABLE "shares" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"conversation_id" uuid NOT NULL,
	"token" varchar(64) NOT NULL,
	"snapshot" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "search_config" "regconfig" DEFAULT 'english'::regconfig NOT NULL;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "search" "tsvector" GENERATED ALWAYS AS (to_tsvector("conversations"."search_config", "conversations"."title")) STORED;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "search_config" "regconfig" DEFAULT 'english'::regconfig NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "search" "tsvector" GENERATED ALWAYS AS (to_tsvector("messages"."search_config", left(coalesce("messages"."content", '') || ' ' || coalesce("messages"."stage3" ->> 'response', ''), 100000))) STORED;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "search_council" "tsvector" GENERATED ALWAYS AS (to_tsvector("messages"."search_config", left(regexp_replace(coalesce(jsonb_path_query_array("messages"."stage1", '$[*].response'), '[]')::text, '\\(u[0-9a-fA-F]{4}|.)', ' ', 'g'), 100000))) STORED;--> statement-breakpoint
ALTER TABLE "shares" ADD CONSTRAINT "shares_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "shares_token_idx" ON "shares" USING btree ("token");--> statement-breakpoint
CREATE INDEX "shares_conversation_idx" ON "shares" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "conversations_search_idx" ON "conversations" USING gin ("search");--> statement-breakpoint
CREATE INDEX "messages_search_idx" ON "messages" USING gin ("search");--> statement-breakpoint
CREATE INDEX "messages_search_council_idx" ON "messages" USING gin ("search_council");