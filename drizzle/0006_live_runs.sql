CREATE TABLE "run_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "run_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"run_id" uuid NOT NULL,
	"first_id" integer NOT NULL,
	"last_id" integer NOT NULL,
	"events" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"conversation_id" uuid NOT NULL,
	"state" varchar(16) DEFAULT 'running' NOT NULL,
	"question_position" integer NOT NULL,
	"answer_position" integer,
	"council" jsonb NOT NULL,
	"idempotency_key" varchar(255),
	"request_hash" varchar(64),
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	CONSTRAINT "runs_state_check" CHECK ("runs"."state" in ('running', 'complete', 'failed', 'cancelled', 'interrupted'))
);
--> statement-breakpoint
ALTER TABLE "run_events" ADD CONSTRAINT "run_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "run_events_run_first_idx" ON "run_events" USING btree ("run_id","first_id");--> statement-breakpoint
CREATE INDEX "run_events_created_idx" ON "run_events" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_conversation_idempotency_key_idx" ON "runs" USING btree ("conversation_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "runs_running_idx" ON "runs" USING btree ("heartbeat_at") WHERE "runs"."state" = 'running';