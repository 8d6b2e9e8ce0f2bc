-- Tatame payments: the Supabase/PostgreSQL schema.
--
-- Re-runnable: apply it as often as you like (psql -v ON_ERROR_STOP=1 -f migrations.sql, or the
-- Supabase SQL editor). It also upgrades a database created from the seed's schema in place.
-- Only the service role reaches these tables: RLS is on with no policies, and anon/authenticated
-- lose every privilege. The app calls the tatame_* functions over PostgREST RPC; each one is a
-- single transaction, and the claims take a row lock, so concurrent callers are serialized by
-- the database. Leases are judged by the database clock (clock_timestamp()), never the app's.
--
-- Layout: the shared pieces; one section per aggregate (its tables, their upgrades and
-- constraints, its functions); then one loop that gives every public.stripe_* table RLS, its
-- updated_at trigger and its privileges, every stripe_* sequence and every tatame_* function
-- its privileges. A new table is one section appended before that loop, named stripe_*, its
-- functions tatame_*.
-- Every table in public named stripe_* is taken to belong to this service.

-- One transaction: a failure half-way leaves nothing behind (never a table without its RLS).
BEGIN;

-- === shared pieces =============================================================================

-- Adds a constraint unless the table already has one of that name (ALTER TABLE has no IF NOT EXISTS for
-- constraints). In pg_temp: it lives only while this script runs, and is never reachable over RPC.
CREATE OR REPLACE FUNCTION pg_temp.tatame_add_constraint(p_table regclass, p_name text, p_definition text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = p_table AND conname = p_name) THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', p_table, p_name, p_definition);
    END IF;
END
$$;

-- Keeps updated_at, whatever a client sends (attached to every table by the loop at the end).
CREATE OR REPLACE FUNCTION public.tatame_set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- When a lease of p_seconds taken at p_now ends.
CREATE OR REPLACE FUNCTION public.tatame_lease_until(
    p_seconds double precision,
    p_now timestamptz DEFAULT clock_timestamp()
)
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public
AS $$ SELECT p_now + make_interval(secs => p_seconds) $$;

-- Whether a lease ending at p_expires (NULL: never leased) has run out at p_now.
CREATE OR REPLACE FUNCTION public.tatame_lease_is_free(p_expires timestamptz, p_now timestamptz)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SECURITY INVOKER
SET search_path = public
AS $$ SELECT p_expires IS NULL OR p_expires <= p_now $$;

-- The first half of every claim: insert the row named by p_key (its unique key as
-- {"column": value, ...}, an ON CONFLICT target) with the columns of p_new, unless it exists;
-- if it does, lock it (FOR UPDATE) until the caller's transaction ends. Returns the row as jsonb
-- and whether it was inserted; the caller judges an existing row and maybe takes it over.
CREATE OR REPLACE FUNCTION public.tatame_insert_or_lock(
    p_table regclass,
    p_key jsonb,
    p_new jsonb,
    OUT row_data jsonb,
    OUT inserted boolean
)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_values jsonb := p_new || p_key;
    v_columns text;
    v_key_columns text;
    v_key_match text;
BEGIN
    SELECT string_agg(format('%I', name), ', ' ORDER BY name) INTO v_columns FROM jsonb_object_keys(v_values) name;
    SELECT string_agg(format('%I', name), ', ' ORDER BY name),
           string_agg(format('t.%1$I = k.%1$I', name), ' AND ' ORDER BY name)
      INTO v_key_columns, v_key_match
      FROM jsonb_object_keys(p_key) name;
    FOR attempt IN 1..3 LOOP
        -- Waits for a concurrent insert of the same key to commit or roll back.
        EXECUTE format('INSERT INTO %1$s AS t (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1)'
                       ' ON CONFLICT (%3$s) DO NOTHING RETURNING to_jsonb(t)', p_table, v_columns, v_key_columns)
           INTO row_data USING v_values;
        IF row_data IS NOT NULL THEN
            inserted := true;
            RETURN;
        END IF;
        EXECUTE format('SELECT to_jsonb(t) FROM %1$s AS t, jsonb_populate_record(NULL::%1$s, $1) AS k'
                       ' WHERE %2$s FOR UPDATE OF t', p_table, v_key_match)
           INTO row_data USING p_key;
        IF row_data IS NOT NULL THEN
            inserted := false;
            RETURN;
        END IF;
        -- Not found: deleted between the two statements, so insert again.
    END LOOP;
    RAISE EXCEPTION 'tatame_insert_or_lock: % row % keeps vanishing', p_table, p_key USING ERRCODE = '40001';
END
$$;

-- === customer mappings: one Clerk user, one Stripe customer ====================================

CREATE TABLE IF NOT EXISTS public.stripe_customer_mapping (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            text,
    clerk_user_id      text NOT NULL UNIQUE,
    stripe_customer_id text UNIQUE,                      -- NULL while a creation is pending
    status             text NOT NULL DEFAULT 'pending',
    generation         integer NOT NULL DEFAULT 0,       -- bumped when the Stripe customer is replaced
    claim_token        text,
    lease_expires_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Upgrading a seed database: its table exists without the claim columns. A seed mapping row
-- already has its Stripe customer, so it is active.
ALTER TABLE public.stripe_customer_mapping
    ADD COLUMN IF NOT EXISTS user_id text,
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'pending',
    ADD COLUMN IF NOT EXISTS generation integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS claim_token text,
    ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE public.stripe_customer_mapping ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE public.stripe_customer_mapping ALTER COLUMN stripe_customer_id DROP NOT NULL;
-- A pending row never has a customer id (claims clear it), so this only touches seed rows.
UPDATE public.stripe_customer_mapping SET status = 'active'
 WHERE status = 'pending' AND stripe_customer_id IS NOT NULL;

DO $$
BEGIN
    PERFORM pg_temp.tatame_add_constraint('public.stripe_customer_mapping', 'stripe_customer_mapping_status_check',
        $c$CHECK (status IN ('pending', 'active'))$c$);
    PERFORM pg_temp.tatame_add_constraint('public.stripe_customer_mapping', 'stripe_customer_mapping_active_has_customer',
        $c$CHECK (status <> 'active' OR stripe_customer_id IS NOT NULL)$c$);
END
$$;
-- clerk_user_id and stripe_customer_id are indexed by their UNIQUE constraints, which is all
-- the claims need (ON CONFLICT and the row lookups use them).

-- Owned when: no row existed (a pending row is inserted); or the row is pending and its lease
-- has expired (taken over, same generation); or the row is active with p_stale_customer_id
-- (marked pending, generation + 1). Otherwise the row comes back untouched, not owned.
-- Returns the row as jsonb plus "owned".
CREATE OR REPLACE FUNCTION public.tatame_claim_customer(
    p_clerk_user_id text,
    p_token text,
    p_lease_seconds double precision,
    p_stale_customer_id text DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_claim record;
    v_row public.stripe_customer_mapping;
    v_now timestamptz;
BEGIN
    SELECT * INTO v_claim FROM public.tatame_insert_or_lock(
        'public.stripe_customer_mapping',
        jsonb_build_object('clerk_user_id', p_clerk_user_id),
        jsonb_build_object('user_id', p_clerk_user_id, 'status', 'pending', 'generation', 0,
                           'claim_token', p_token, 'lease_expires_at', public.tatame_lease_until(p_lease_seconds)));
    IF v_claim.inserted THEN
        RETURN v_claim.row_data || jsonb_build_object('owned', true);
    END IF;
    v_row := jsonb_populate_record(NULL::public.stripe_customer_mapping, v_claim.row_data);

    v_now := clock_timestamp();  -- after the lock: we may have waited for it
    IF v_row.status = 'pending' AND public.tatame_lease_is_free(v_row.lease_expires_at, v_now) THEN
        UPDATE public.stripe_customer_mapping
           SET claim_token = p_token, lease_expires_at = public.tatame_lease_until(p_lease_seconds, v_now)
         WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSIF p_stale_customer_id IS NOT NULL AND v_row.status = 'active'
          AND v_row.stripe_customer_id = p_stale_customer_id THEN
        UPDATE public.stripe_customer_mapping
           SET status = 'pending', stripe_customer_id = NULL, generation = generation + 1,
               claim_token = p_token, lease_expires_at = public.tatame_lease_until(p_lease_seconds, v_now)
         WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSE
        RETURN to_jsonb(v_row) || jsonb_build_object('owned', false);
    END IF;
    RETURN to_jsonb(v_row) || jsonb_build_object('owned', true);
END
$$;

-- Activates the mapping if p_token still owns the pending claim.
CREATE OR REPLACE FUNCTION public.tatame_complete_customer(
    p_clerk_user_id text,
    p_token text,
    p_stripe_customer_id text
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_customer_mapping
       SET status = 'active', stripe_customer_id = p_stripe_customer_id,
           claim_token = NULL, lease_expires_at = NULL
     WHERE clerk_user_id = p_clerk_user_id AND claim_token = p_token AND status = 'pending';
    RETURN FOUND;
END
$$;

-- Expires our lease at once so the next request may retry the creation.
CREATE OR REPLACE FUNCTION public.tatame_release_customer_claim(p_clerk_user_id text, p_token text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_customer_mapping
       SET lease_expires_at = clock_timestamp()
     WHERE clerk_user_id = p_clerk_user_id AND claim_token = p_token AND status = 'pending';
    RETURN FOUND;
END
$$;

-- === webhook events: each Stripe event processed once ==========================================

CREATE TABLE IF NOT EXISTS public.stripe_webhook_events (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_event_id  text NOT NULL UNIQUE,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'processing',
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    claim_token      text,
    lease_expires_at timestamptz,
    processed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Upgrading a seed database: its table exists without the claim columns. A seed event row
-- was processed.
ALTER TABLE public.stripe_webhook_events
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'processed',
    ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_error text,
    ADD COLUMN IF NOT EXISTS claim_token text,
    ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS processed_at timestamptz,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE public.stripe_webhook_events ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE public.stripe_webhook_events ALTER COLUMN status SET DEFAULT 'processing';
-- The seed stamped processed_at on insert; a claim must start with it empty.
ALTER TABLE public.stripe_webhook_events ALTER COLUMN processed_at DROP DEFAULT;

DO $$
BEGIN
    PERFORM pg_temp.tatame_add_constraint('public.stripe_webhook_events', 'stripe_webhook_events_status_check',
        $c$CHECK (status IN ('processing', 'processed', 'failed'))$c$);
END
$$;

-- stripe_event_id is indexed by its UNIQUE constraint; these serve queries by type and status.
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_event_type ON public.stripe_webhook_events (event_type);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_status ON public.stripe_webhook_events (status);

-- "claimed" when new, failed, or processing with an expired lease (attempts + 1); "processed"
-- when already processed; "in_progress" when another lease is live. Returns the row as jsonb
-- plus "outcome".
CREATE OR REPLACE FUNCTION public.tatame_claim_event(
    p_event_id text,
    p_event_type text,
    p_token text,
    p_lease_seconds double precision
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_claim record;
    v_row public.stripe_webhook_events;
    v_now timestamptz;
BEGIN
    SELECT * INTO v_claim FROM public.tatame_insert_or_lock(
        'public.stripe_webhook_events',
        jsonb_build_object('stripe_event_id', p_event_id),
        jsonb_build_object('event_type', p_event_type, 'status', 'processing', 'attempts', 1,
                           'claim_token', p_token, 'lease_expires_at', public.tatame_lease_until(p_lease_seconds)));
    IF v_claim.inserted THEN
        RETURN v_claim.row_data || jsonb_build_object('outcome', 'claimed');
    END IF;
    v_row := jsonb_populate_record(NULL::public.stripe_webhook_events, v_claim.row_data);

    v_now := clock_timestamp();  -- after the lock: we may have waited for it
    IF v_row.status = 'processed' THEN
        RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'processed');
    ELSIF v_row.status = 'processing' AND NOT public.tatame_lease_is_free(v_row.lease_expires_at, v_now) THEN
        RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'in_progress');
    END IF;
    UPDATE public.stripe_webhook_events
       SET status = 'processing', attempts = attempts + 1,
           claim_token = p_token, lease_expires_at = public.tatame_lease_until(p_lease_seconds, v_now)
     WHERE id = v_row.id
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'claimed');
END
$$;

-- Records success if p_token still owns the claim.
CREATE OR REPLACE FUNCTION public.tatame_mark_event_processed(p_event_id text, p_token text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_webhook_events
       SET status = 'processed', processed_at = clock_timestamp(), last_error = NULL,
           claim_token = NULL, lease_expires_at = NULL
     WHERE stripe_event_id = p_event_id AND claim_token = p_token AND status = 'processing';
    RETURN FOUND;
END
$$;

-- Records failure (last_error, at most 2000 characters) and frees the claim for a retry.
CREATE OR REPLACE FUNCTION public.tatame_mark_event_failed(p_event_id text, p_token text, p_error text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_webhook_events
       SET status = 'failed', last_error = left(p_error, 2000),
           claim_token = NULL, lease_expires_at = NULL
     WHERE stripe_event_id = p_event_id AND claim_token = p_token AND status = 'processing';
    RETURN FOUND;
END
$$;

-- === stripe subscriptions: one row per subscription, never going backwards =====================

-- The write guard's source: nextval is strictly increasing for every session and instance, and
-- never rolled back, so two reads never share a stamp.
CREATE SEQUENCE IF NOT EXISTS public.stripe_stamp_seq AS bigint;

-- No CHECK on status: Stripe may add statuses, and a read we cannot store would be lost.
CREATE TABLE IF NOT EXISTS public.stripe_subscriptions (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_subscription_id text NOT NULL UNIQUE,
    stripe_customer_id     text NOT NULL,
    clerk_user_id          text,                     -- NULL until the customer's user is known
    status                 text NOT NULL,
    price_id               text,
    product_id             text,
    quantity               integer,
    current_period_end     bigint,                   -- Unix seconds, as Stripe gives them
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    cancel_at              bigint,
    canceled_at            bigint,
    trial_end              bigint,
    stripe_created         bigint NOT NULL,
    stamp                  bigint NOT NULL,          -- from tatame_next_stamp(), taken before the read
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- stripe_subscription_id is indexed by its UNIQUE constraint; these serve "my subscriptions"
-- and attaching a customer's rows to its user.
CREATE INDEX IF NOT EXISTS idx_stripe_subscriptions_clerk_user_id ON public.stripe_subscriptions (clerk_user_id);
CREATE INDEX IF NOT EXISTS idx_stripe_subscriptions_stripe_customer_id
    ON public.stripe_subscriptions (stripe_customer_id);

-- A number greater than any handed out before.
CREATE OR REPLACE FUNCTION public.tatame_next_stamp()
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = public
AS $$ SELECT nextval('public.stripe_stamp_seq') $$;

-- Inserts the subscription, or replaces the row if p_stamp is greater than the stored stamp:
-- one statement, so the comparison and the write cannot be split by another writer. A stored
-- clerk_user_id is kept when the read has none. True when written.
CREATE OR REPLACE FUNCTION public.tatame_save_subscription(
    p_stripe_subscription_id text,
    p_stripe_customer_id text,
    p_clerk_user_id text,
    p_status text,
    p_price_id text,
    p_product_id text,
    p_quantity integer,
    p_current_period_end bigint,
    p_cancel_at_period_end boolean,
    p_cancel_at bigint,
    p_canceled_at bigint,
    p_trial_end bigint,
    p_stripe_created bigint,
    p_stamp bigint
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    INSERT INTO public.stripe_subscriptions AS s (
        stripe_subscription_id, stripe_customer_id, clerk_user_id, status, price_id, product_id, quantity,
        current_period_end, cancel_at_period_end, cancel_at, canceled_at, trial_end, stripe_created, stamp
    ) VALUES (
        p_stripe_subscription_id, p_stripe_customer_id, p_clerk_user_id, p_status, p_price_id, p_product_id,
        p_quantity, p_current_period_end, p_cancel_at_period_end, p_cancel_at, p_canceled_at, p_trial_end,
        p_stripe_created, p_stamp
    )
    ON CONFLICT (stripe_subscription_id) DO UPDATE
       SET stripe_customer_id = EXCLUDED.stripe_customer_id,
           clerk_user_id = coalesce(EXCLUDED.clerk_user_id, s.clerk_user_id),
           status = EXCLUDED.status, price_id = EXCLUDED.price_id, product_id = EXCLUDED.product_id,
           quantity = EXCLUDED.quantity, current_period_end = EXCLUDED.current_period_end,
           cancel_at_period_end = EXCLUDED.cancel_at_period_end, cancel_at = EXCLUDED.cancel_at,
           canceled_at = EXCLUDED.canceled_at, trial_end = EXCLUDED.trial_end,
           stripe_created = EXCLUDED.stripe_created, stamp = EXCLUDED.stamp
     WHERE s.stamp < EXCLUDED.stamp;
    RETURN FOUND;
END
$$;

-- Sets clerk_user_id on the customer's subscriptions that have none (stored before the mapping
-- existed). Returns how many rows changed.
CREATE OR REPLACE FUNCTION public.tatame_attach_subscriptions(p_stripe_customer_id text, p_clerk_user_id text)
RETURNS integer
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.stripe_subscriptions
       SET clerk_user_id = p_clerk_user_id
     WHERE stripe_customer_id = p_stripe_customer_id AND clerk_user_id IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- === purchase claims: one open checkout session / incomplete subscription per user and price ===

CREATE TABLE IF NOT EXISTS public.stripe_purchase_claims (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind              text NOT NULL,                 -- 'checkout' or 'payment_sheet'
    clerk_user_id     text NOT NULL,
    price_id          text NOT NULL,
    status            text NOT NULL DEFAULT 'pending',
    generation        integer NOT NULL DEFAULT 0,    -- bumped when the result is replaced
    result_id         text,                          -- the checkout session / subscription id
    result_expires_at bigint,                        -- Unix seconds the result stops being reusable
    claim_token       text,
    lease_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    PERFORM pg_temp.tatame_add_constraint('public.stripe_purchase_claims', 'stripe_purchase_claims_key',
        $c$UNIQUE (kind, clerk_user_id, price_id)$c$);
    PERFORM pg_temp.tatame_add_constraint('public.stripe_purchase_claims', 'stripe_purchase_claims_kind_check',
        $c$CHECK (kind IN ('checkout', 'payment_sheet'))$c$);
    PERFORM pg_temp.tatame_add_constraint('public.stripe_purchase_claims', 'stripe_purchase_claims_status_check',
        $c$CHECK (status IN ('pending', 'open'))$c$);
    PERFORM pg_temp.tatame_add_constraint('public.stripe_purchase_claims', 'stripe_purchase_claims_open_has_result',
        $c$CHECK (status <> 'open' OR result_id IS NOT NULL)$c$);
END
$$;
-- The UNIQUE key (kind, clerk_user_id, price_id) is the index every claim and read uses.

-- Owned when: no row existed (a pending row is inserted, generation 0); or the row is pending
-- and its lease has expired (taken over, same row, same generation); or the row is open with
-- p_stale_result_id (marked pending, result cleared, generation + 1). Otherwise the row comes
-- back untouched, not owned. Returns the row as jsonb plus "owned".
CREATE OR REPLACE FUNCTION public.tatame_claim_purchase(
    p_kind text,
    p_clerk_user_id text,
    p_price_id text,
    p_token text,
    p_lease_seconds double precision,
    p_stale_result_id text DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_claim record;
    v_row public.stripe_purchase_claims;
    v_now timestamptz;
BEGIN
    SELECT * INTO v_claim FROM public.tatame_insert_or_lock(
        'public.stripe_purchase_claims',
        jsonb_build_object('kind', p_kind, 'clerk_user_id', p_clerk_user_id, 'price_id', p_price_id),
        jsonb_build_object('status', 'pending', 'generation', 0,
                           'claim_token', p_token, 'lease_expires_at', public.tatame_lease_until(p_lease_seconds)));
    IF v_claim.inserted THEN
        RETURN v_claim.row_data || jsonb_build_object('owned', true);
    END IF;
    v_row := jsonb_populate_record(NULL::public.stripe_purchase_claims, v_claim.row_data);

    v_now := clock_timestamp();  -- after the lock: we may have waited for it
    IF v_row.status = 'pending' AND public.tatame_lease_is_free(v_row.lease_expires_at, v_now) THEN
        UPDATE public.stripe_purchase_claims
           SET claim_token = p_token, lease_expires_at = public.tatame_lease_until(p_lease_seconds, v_now)
         WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSIF p_stale_result_id IS NOT NULL AND v_row.status = 'open' AND v_row.result_id = p_stale_result_id THEN
        UPDATE public.stripe_purchase_claims
           SET status = 'pending', result_id = NULL, result_expires_at = NULL, generation = generation + 1,
               claim_token = p_token, lease_expires_at = public.tatame_lease_until(p_lease_seconds, v_now)
         WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSE
        RETURN to_jsonb(v_row) || jsonb_build_object('owned', false);
    END IF;
    RETURN to_jsonb(v_row) || jsonb_build_object('owned', true);
END
$$;

-- Records the result (status open) if p_token still owns the pending claim.
CREATE OR REPLACE FUNCTION public.tatame_complete_purchase(
    p_kind text,
    p_clerk_user_id text,
    p_price_id text,
    p_token text,
    p_result_id text,
    p_result_expires_at bigint
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_purchase_claims
       SET status = 'open', result_id = p_result_id, result_expires_at = p_result_expires_at,
           claim_token = NULL, lease_expires_at = NULL
     WHERE kind = p_kind AND clerk_user_id = p_clerk_user_id AND price_id = p_price_id
       AND claim_token = p_token AND status = 'pending';
    RETURN FOUND;
END
$$;

-- Expires our lease at once so the next request may retry the creation.
CREATE OR REPLACE FUNCTION public.tatame_release_purchase_claim(
    p_kind text,
    p_clerk_user_id text,
    p_price_id text,
    p_token text
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_purchase_claims
       SET lease_expires_at = clock_timestamp()
     WHERE kind = p_kind AND clerk_user_id = p_clerk_user_id AND price_id = p_price_id
       AND claim_token = p_token AND status = 'pending';
    RETURN FOUND;
END
$$;

-- === accounts (Clerk): the last Clerk change applied per user ===================================

-- The `updated_at` (Clerk's, milliseconds) of the last user.updated written to the user's Stripe
-- customer: an older delivery never overwrites a newer one. Erasure deletes the row.
CREATE TABLE IF NOT EXISTS public.stripe_clerk_users (
    clerk_user_id    text PRIMARY KEY,
    clerk_updated_at bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Records p_clerk_updated_at unless a later one is stored: one statement, so the comparison and
-- the write cannot be split by another writer. An equal one is written again (a retry of the
-- same change applies again). True when written.
CREATE OR REPLACE FUNCTION public.tatame_advance_clerk_user(p_clerk_user_id text, p_clerk_updated_at bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    INSERT INTO public.stripe_clerk_users AS u (clerk_user_id, clerk_updated_at)
    VALUES (p_clerk_user_id, p_clerk_updated_at)
    ON CONFLICT (clerk_user_id) DO UPDATE
       SET clerk_updated_at = EXCLUDED.clerk_updated_at
     WHERE u.clerk_updated_at <= EXCLUDED.clerk_updated_at;
    RETURN FOUND;
END
$$;

-- === payment history: invoices and one-time payments (GET /stripe/invoices) ====================

-- One row per invoice (kind 'invoice', id in_...) or one-time payment (kind 'payment', the
-- PaymentIntent's pi_...), written only by a newer read (the stamp, as for subscriptions).
-- No CHECK on status: Stripe may add statuses, and a read we cannot store would be lost.
CREATE TABLE IF NOT EXISTS public.stripe_payments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_id          text NOT NULL UNIQUE,
    kind               text NOT NULL,
    clerk_user_id      text,                         -- NULL until the customer's user is known
    stripe_customer_id text,
    number             text,
    status             text NOT NULL,
    amount_due         bigint NOT NULL,              -- minor units of currency
    amount_paid        bigint NOT NULL,
    currency           text NOT NULL,
    stripe_created     bigint NOT NULL,              -- the object's created: the list's order
    period_start       bigint,
    period_end         bigint,
    description        text,
    hosted_invoice_url text,
    invoice_pdf        text,
    receipt_url        text,
    stamp              bigint NOT NULL,              -- from tatame_next_stamp(), taken before the read
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'public.stripe_payments'::regclass AND conname = 'stripe_payments_kind_check') THEN
        ALTER TABLE public.stripe_payments ADD CONSTRAINT stripe_payments_kind_check
            CHECK (kind IN ('invoice', 'payment'));
    END IF;
END
$$;

-- The list: one user's rows, newest first (stripe_id is indexed by its UNIQUE constraint).
CREATE INDEX IF NOT EXISTS idx_stripe_payments_user_created
    ON public.stripe_payments (clerk_user_id, stripe_created DESC, stripe_id DESC);

-- Inserts the invoice or payment, or replaces the row if p_stamp is greater than the stored
-- stamp: one statement, as tatame_save_subscription. A stored clerk_user_id is kept when the read
-- has none. True when written.
CREATE OR REPLACE FUNCTION public.tatame_save_payment(
    p_stripe_id text,
    p_kind text,
    p_clerk_user_id text,
    p_stripe_customer_id text,
    p_number text,
    p_status text,
    p_amount_due bigint,
    p_amount_paid bigint,
    p_currency text,
    p_stripe_created bigint,
    p_period_start bigint,
    p_period_end bigint,
    p_description text,
    p_hosted_invoice_url text,
    p_invoice_pdf text,
    p_receipt_url text,
    p_stamp bigint
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    INSERT INTO public.stripe_payments AS p (
        stripe_id, kind, clerk_user_id, stripe_customer_id, number, status, amount_due, amount_paid, currency,
        stripe_created, period_start, period_end, description, hosted_invoice_url, invoice_pdf, receipt_url, stamp
    ) VALUES (
        p_stripe_id, p_kind, p_clerk_user_id, p_stripe_customer_id, p_number, p_status, p_amount_due, p_amount_paid,
        p_currency, p_stripe_created, p_period_start, p_period_end, p_description, p_hosted_invoice_url,
        p_invoice_pdf, p_receipt_url, p_stamp
    )
    ON CONFLICT (stripe_id) DO UPDATE
       SET kind = EXCLUDED.kind,
           clerk_user_id = coalesce(EXCLUDED.clerk_user_id, p.clerk_user_id),
           stripe_customer_id = EXCLUDED.stripe_customer_id, number = EXCLUDED.number, status = EXCLUDED.status,
           amount_due = EXCLUDED.amount_due, amount_paid = EXCLUDED.amount_paid, currency = EXCLUDED.currency,
           stripe_created = EXCLUDED.stripe_created, period_start = EXCLUDED.period_start,
           period_end = EXCLUDED.period_end, description = EXCLUDED.description,
           hosted_invoice_url = EXCLUDED.hosted_invoice_url, invoice_pdf = EXCLUDED.invoice_pdf,
           receipt_url = EXCLUDED.receipt_url, stamp = EXCLUDED.stamp
     WHERE p.stamp < EXCLUDED.stamp;
    RETURN FOUND;
END
$$;

-- At most p_limit of the user's rows, newest first (stripe_created, then stripe_id, descending),
-- after the cursor (p_after_created, p_after_id) when given. A json array of rows.
CREATE OR REPLACE FUNCTION public.tatame_list_payments(
    p_clerk_user_id text,
    p_limit integer,
    p_after_created bigint DEFAULT NULL,
    p_after_id text DEFAULT NULL
)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public
AS $$
    -- Ids compared byte by byte (COLLATE "C"), as SQLite does, whatever the database's collation.
    SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.stripe_created DESC, r.stripe_id COLLATE "C" DESC), '[]'::jsonb)
      FROM (SELECT * FROM public.stripe_payments
             WHERE clerk_user_id = p_clerk_user_id
               AND (p_after_created IS NULL OR stripe_created < p_after_created
                    OR (stripe_created = p_after_created AND stripe_id COLLATE "C" < p_after_id COLLATE "C"))
             ORDER BY stripe_created DESC, stripe_id COLLATE "C" DESC
             LIMIT p_limit) r
$$;

-- === features: each Stripe customer's active entitlements, never going backwards ================

-- The lookup keys of the customer's active entitlements (Stripe Entitlements), as last read from
-- Stripe; written by the same stamp guard as stripe_subscriptions (the stamp is taken before the read).
CREATE TABLE IF NOT EXISTS public.stripe_features (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_customer_id text NOT NULL UNIQUE,
    clerk_user_id      text,                       -- NULL until the customer's user is known
    features           text[] NOT NULL DEFAULT '{}',  -- lookup keys, sorted
    stamp              bigint NOT NULL,            -- from tatame_next_stamp(), taken before the read
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_stripe_features_clerk_user_id ON public.stripe_features (clerk_user_id);

-- Inserts the customer's features, or replaces the row if p_stamp is greater than the stored
-- stamp, in one statement. A stored clerk_user_id is kept when the read has none. True when written.
CREATE OR REPLACE FUNCTION public.tatame_save_features(
    p_stripe_customer_id text,
    p_clerk_user_id text,
    p_features text[],
    p_stamp bigint
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    INSERT INTO public.stripe_features AS f (stripe_customer_id, clerk_user_id, features, stamp)
    VALUES (p_stripe_customer_id, p_clerk_user_id, coalesce(p_features, '{}'), p_stamp)
    ON CONFLICT (stripe_customer_id) DO UPDATE
       SET features = EXCLUDED.features, stamp = EXCLUDED.stamp,
           clerk_user_id = coalesce(EXCLUDED.clerk_user_id, f.clerk_user_id)
     WHERE f.stamp < EXCLUDED.stamp;
    RETURN FOUND;
END
$$;

-- === the Clerk outbox: each user's billing state, published to Clerk in stamp order ============

-- One row per Clerk user: the newest billing state staged (guarded by its stamp, like the
-- subscriptions), when it changed, the send schedule, a sender's lease (one sender at a time per
-- user, so two sends never cross), and the stamp of the state Clerk last accepted. Times are Unix
-- seconds from the app, which schedules the sends.
CREATE TABLE IF NOT EXISTS public.stripe_clerk_outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_user_id   text NOT NULL UNIQUE,
    state           jsonb NOT NULL,
    stamp           bigint NOT NULL,            -- from tatame_next_stamp(), taken before the state was read
    changed_at      double precision NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    sent_stamp      bigint,
    sent_at         double precision,
    last_error      text,
    lease_token     text,
    lease_until     double precision,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_stripe_clerk_outbox_due ON public.stripe_clerk_outbox (next_attempt_at);

-- Stages the state, or replaces the staged one if p_stamp is greater: due at once, attempts reset;
-- a live lease is kept. True when written.
CREATE OR REPLACE FUNCTION public.tatame_save_outbox(
    p_clerk_user_id text, p_state jsonb, p_stamp bigint, p_changed_at double precision
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    INSERT INTO public.stripe_clerk_outbox AS o (clerk_user_id, state, stamp, changed_at, next_attempt_at)
    VALUES (p_clerk_user_id, p_state, p_stamp, p_changed_at, p_changed_at)
    ON CONFLICT (clerk_user_id) DO UPDATE
       SET state = EXCLUDED.state, stamp = EXCLUDED.stamp, changed_at = EXCLUDED.changed_at, attempts = 0,
           next_attempt_at = EXCLUDED.next_attempt_at, last_error = NULL
     WHERE o.stamp < EXCLUDED.stamp;
    RETURN FOUND;
END
$$;

-- Leases up to p_limit due rows (pending, next_attempt_at reached, no live lease), smallest stamp
-- first; rows another sender is leasing right now are skipped, not waited for. A jsonb array.
-- p_waiting_too: rows waiting out a backoff as well (`flask stripe sync`).
CREATE OR REPLACE FUNCTION public.tatame_claim_outbox(
    p_now double precision, p_token text, p_lease_seconds double precision, p_limit integer,
    p_waiting_too boolean
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
DECLARE
    v_rows jsonb;
BEGIN
    WITH due AS (
        SELECT clerk_user_id FROM public.stripe_clerk_outbox
         WHERE (sent_stamp IS NULL OR sent_stamp < stamp) AND (p_waiting_too OR next_attempt_at <= p_now)
           AND (lease_until IS NULL OR lease_until <= p_now)
         ORDER BY stamp LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), leased AS (
        UPDATE public.stripe_clerk_outbox AS o
           SET lease_token = p_token, lease_until = p_now + p_lease_seconds
          FROM due WHERE o.clerk_user_id = due.clerk_user_id
        RETURNING o.*
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'clerk_user_id', clerk_user_id, 'state', state, 'stamp', stamp, 'changed_at', changed_at,
               'attempts', attempts, 'next_attempt_at', next_attempt_at, 'sent_stamp', sent_stamp,
               'sent_at', sent_at, 'last_error', last_error, 'lease_token', lease_token,
               'lease_until', lease_until) ORDER BY stamp), '[]'::jsonb)
      INTO v_rows FROM leased;
    RETURN v_rows;
END
$$;

-- Clerk accepted the state of p_stamp: sent_stamp never goes down; the lease is freed. Only the
-- lease's holder may.
CREATE OR REPLACE FUNCTION public.tatame_mark_outbox_sent(
    p_clerk_user_id text, p_token text, p_stamp bigint, p_now double precision
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_clerk_outbox
       SET sent_stamp = greatest(coalesce(sent_stamp, 0), p_stamp), sent_at = p_now, last_error = NULL,
           attempts = 0, lease_token = NULL, lease_until = NULL
     WHERE clerk_user_id = p_clerk_user_id AND lease_token = p_token;
    RETURN FOUND;
END
$$;

-- The send failed: counted, retried at p_next_attempt_at, the lease freed. Only the holder may.
CREATE OR REPLACE FUNCTION public.tatame_mark_outbox_failed(
    p_clerk_user_id text, p_token text, p_error text, p_next_attempt_at double precision
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public
AS $$
BEGIN
    UPDATE public.stripe_clerk_outbox
       SET attempts = attempts + 1, last_error = left(p_error, 2000), next_attempt_at = p_next_attempt_at,
           lease_token = NULL, lease_until = NULL
     WHERE clerk_user_id = p_clerk_user_id AND lease_token = p_token;
    RETURN FOUND;
END
$$;

-- How many users have a state Clerk has not accepted yet.
CREATE OR REPLACE FUNCTION public.tatame_count_outbox_pending()
RETURNS integer
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public
AS $$ SELECT count(*)::integer FROM public.stripe_clerk_outbox WHERE sent_stamp IS NULL OR sent_stamp < stamp $$;

-- === every table and function: RLS, updated_at, privileges =====================================
-- (append new aggregate sections above this line)

-- Every public.stripe_* table gets row level security (on, no policies: only the service role,
-- which bypasses RLS, reaches the rows) and, when it has updated_at, the trigger keeping it.
-- Supabase grants anon/authenticated everything in public by default; take it back, from the
-- tables and from every tatame_* function, and give the service role what it needs. The roles
-- may not exist on a plain PostgreSQL, hence the checks. Nothing here names a table: a new
-- stripe_* table or sequence and its tatame_* functions are covered as they are.
DO $$
DECLARE
    v_role text;
    v_table regclass;
    v_name text;
    v_fn regprocedure;
BEGIN
    FOR v_table, v_name IN
        SELECT c.oid::regclass, c.relname FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname LIKE 'stripe\_%'
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_table);
        IF EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = v_table AND attname = 'updated_at' AND NOT attisdropped) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', v_name || '_set_updated_at', v_table);
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION public.tatame_set_updated_at()',
                           v_name || '_set_updated_at', v_table);
        END IF;
        FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role);
            EXECUTE format('REVOKE ALL ON TABLE %s FROM %I', v_table, v_role);
        END LOOP;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %s TO service_role', v_table);
        END IF;
    END LOOP;

    -- Sequences (the stamp's): Supabase grants them to anon/authenticated by default too; the
    -- functions that call nextval run as their caller, so the service role needs USAGE.
    FOR v_table IN
        SELECT c.oid::regclass FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relname LIKE 'stripe\_%'
    LOOP
        FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role);
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I', v_table, v_role);
        END LOOP;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO service_role', v_table);
        END IF;
    END LOOP;

    FOR v_fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'tatame\_%'
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
        FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role);
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', v_fn, v_role);
        END LOOP;
        -- The claim functions run as their caller, so the service role needs the helpers too.
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role')
           AND (SELECT prorettype FROM pg_proc WHERE oid = v_fn) <> 'trigger'::regtype THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', v_fn);
        END IF;
    END LOOP;
END
$$;

-- PostgREST caches the schema: tell it the functions changed (a no-op where nobody listens).
NOTIFY pgrst, 'reload schema';

COMMIT;
