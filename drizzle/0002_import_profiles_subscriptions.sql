CREATE TABLE "subscriptions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "subscriptions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" varchar(128) NOT NULL,
	"provider" varchar(32) NOT NULL,
	"customer_id" varchar(255),
	"subscription_id" varchar(255),
	"status" varchar(64),
	"plan" varchar(64),
	"current_period_end" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscriptions_user_provider_subscription_key" UNIQUE NULLS NOT DISTINCT("user_id","provider","subscription_id")
);
--> statement-breakpoint
CREATE TABLE "user_profiles" (
	"user_id" varchar(128) PRIMARY KEY NOT NULL,
	"email" varchar(320),
	"display_name" varchar(200),
	"avatar_url" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
