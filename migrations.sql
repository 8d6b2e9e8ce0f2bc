-- Tatame payments: the Supabase/PostgreSQL schema.
--
-- Re-runnable: apply it as often as you like (psql -v ON_ERROR_STOP=1 -f migrations.sql, or the
-- Supabase SQL editor). It also upgrades a database created from the seed's schema in place.
-- Only the service role reaches these tables: RLS is on with no policies, and anon/authenticated
-- lose every privilege. The app calls the tatame_* functions over PostgREST RPC; each one is a
-- single transaction, and the claims take a row lock, so concurrent callers are serialized by
-- the database. Leases are judged by the database clock (clock_timestamp()), never the app's.

-- One transaction: a failure half-way leaves nothing behind (never a table without its RLS).
BEGIN;

-- --- tables ------------------------------------------------------------------------------------

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

-- Row level security first of all, before anything can be written to the tables.
ALTER TABLE public.stripe_customer_mapping ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stripe_webhook_events ENABLE ROW LEVEL SECURITY;

-- Upgrading a seed database: its tables exist without the claim columns. A seed mapping row
-- already has its Stripe customer (so it is active), and a seed event row was processed.
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
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'public.stripe_customer_mapping'::regclass
                      AND conname = 'stripe_customer_mapping_status_check') THEN
        ALTER TABLE public.stripe_customer_mapping ADD CONSTRAINT stripe_customer_mapping_status_check
            CHECK (status IN ('pending', 'active'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'public.stripe_customer_mapping'::regclass
                      AND conname = 'stripe_customer_mapping_active_has_customer') THEN
        ALTER TABLE public.stripe_customer_mapping ADD CONSTRAINT stripe_customer_mapping_active_has_customer
            CHECK (status <> 'active' OR stripe_customer_id IS NOT NULL);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'public.stripe_webhook_events'::regclass
                      AND conname = 'stripe_webhook_events_status_check') THEN
        ALTER TABLE public.stripe_webhook_events ADD CONSTRAINT stripe_webhook_events_status_check
            CHECK (status IN ('processing', 'processed', 'failed'));
    END IF;
END
$$;

-- clerk_user_id, stripe_customer_id and stripe_event_id are indexed by their UNIQUE constraints,
-- which is all the claims need (ON CONFLICT and the row lookups use them).
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_event_type ON public.stripe_webhook_events (event_type);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_status ON public.stripe_webhook_events (status);

-- --- updated_at ---------------------------------------------------------------------------------

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

DROP TRIGGER IF EXISTS stripe_customer_mapping_set_updated_at ON public.stripe_customer_mapping;
CREATE TRIGGER stripe_customer_mapping_set_updated_at
    BEFORE UPDATE ON public.stripe_customer_mapping
    FOR EACH ROW EXECUTE FUNCTION public.tatame_set_updated_at();

DROP TRIGGER IF EXISTS stripe_webhook_events_set_updated_at ON public.stripe_webhook_events;
CREATE TRIGGER stripe_webhook_events_set_updated_at
    BEFORE UPDATE ON public.stripe_webhook_events
    FOR EACH ROW EXECUTE FUNCTION public.tatame_set_updated_at();

-- --- customer claims ----------------------------------------------------------------------------

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
    v_row public.stripe_customer_mapping;
    v_now timestamptz;
    v_lease interval := make_interval(secs => p_lease_seconds);
BEGIN
    FOR attempt IN 1..3 LOOP
        -- Waits for a concurrent insert of the same user to commit or roll back.
        INSERT INTO public.stripe_customer_mapping
            (user_id, clerk_user_id, status, generation, claim_token, lease_expires_at)
        VALUES (p_clerk_user_id, p_clerk_user_id, 'pending', 0, p_token, clock_timestamp() + v_lease)
        ON CONFLICT (clerk_user_id) DO NOTHING
        RETURNING * INTO v_row;
        IF FOUND THEN
            RETURN to_jsonb(v_row) || jsonb_build_object('owned', true);
        END IF;
        SELECT * INTO v_row FROM public.stripe_customer_mapping
         WHERE clerk_user_id = p_clerk_user_id
           FOR UPDATE;
        EXIT WHEN FOUND;  -- not found: deleted between the two statements, so insert again
    END LOOP;
    IF v_row.id IS NULL THEN
        RAISE EXCEPTION 'tatame_claim_customer: mapping of % keeps vanishing', p_clerk_user_id
            USING ERRCODE = '40001';
    END IF;

    v_now := clock_timestamp();  -- after the lock: we may have waited for it
    IF v_row.status = 'pending' AND (v_row.lease_expires_at IS NULL OR v_row.lease_expires_at <= v_now) THEN
        UPDATE public.stripe_customer_mapping
           SET claim_token = p_token, lease_expires_at = v_now + v_lease
         WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSIF p_stale_customer_id IS NOT NULL AND v_row.status = 'active'
          AND v_row.stripe_customer_id = p_stale_customer_id THEN
        UPDATE public.stripe_customer_mapping
           SET status = 'pending', stripe_customer_id = NULL, generation = generation + 1,
               claim_token = p_token, lease_expires_at = v_now + v_lease
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

-- --- webhook event claims -----------------------------------------------------------------------

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
    v_row public.stripe_webhook_events;
    v_now timestamptz;
    v_lease interval := make_interval(secs => p_lease_seconds);
BEGIN
    FOR attempt IN 1..3 LOOP
        INSERT INTO public.stripe_webhook_events
            (stripe_event_id, event_type, status, attempts, claim_token, lease_expires_at, processed_at)
        VALUES (p_event_id, p_event_type, 'processing', 1, p_token, clock_timestamp() + v_lease, NULL)
        ON CONFLICT (stripe_event_id) DO NOTHING
        RETURNING * INTO v_row;
        IF FOUND THEN
            RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'claimed');
        END IF;
        SELECT * INTO v_row FROM public.stripe_webhook_events
         WHERE stripe_event_id = p_event_id
           FOR UPDATE;
        EXIT WHEN FOUND;
    END LOOP;
    IF v_row.id IS NULL THEN
        RAISE EXCEPTION 'tatame_claim_event: event % keeps vanishing', p_event_id USING ERRCODE = '40001';
    END IF;

    v_now := clock_timestamp();
    IF v_row.status = 'processed' THEN
        RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'processed');
    ELSIF v_row.status = 'processing' AND v_row.lease_expires_at > v_now THEN
        RETURN to_jsonb(v_row) || jsonb_build_object('outcome', 'in_progress');
    END IF;
    UPDATE public.stripe_webhook_events
       SET status = 'processing', attempts = attempts + 1,
           claim_token = p_token, lease_expires_at = v_now + v_lease
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

-- --- access -------------------------------------------------------------------------------------

-- Supabase grants anon/authenticated everything in public by default; take it back. The roles
-- may not exist on a plain PostgreSQL, hence the checks.
DO $$
DECLARE
    v_role text;
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'tatame\_%'
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
    END LOOP;

    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role);
        EXECUTE format('REVOKE ALL ON TABLE public.stripe_customer_mapping, public.stripe_webhook_events FROM %I',
                       v_role);
        FOR v_fn IN
            SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'tatame\_%'
        LOOP
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', v_fn, v_role);
        END LOOP;
    END LOOP;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE
           ON TABLE public.stripe_customer_mapping, public.stripe_webhook_events TO service_role;
        FOR v_fn IN
            SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'tatame\_%'
               AND p.prorettype <> 'trigger'::regtype
        LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', v_fn);
        END LOOP;
    END IF;
END
$$;

-- PostgREST caches the schema: tell it the functions changed (a no-op where nobody listens).
NOTIFY pgrst, 'reload schema';

COMMIT;
