"""migrations.sql on a real PostgreSQL: constraints, updated_at, RLS, privileges, re-runs."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import errors, sql

from .conftest import MIGRATIONS, apply_migrations

TABLES = ("stripe_customer_mapping", "stripe_webhook_events", "stripe_subscriptions", "stripe_purchase_claims",
          "stripe_payments", "stripe_features", "stripe_clerk_outbox")
RPC_FUNCTIONS = (
    "tatame_claim_customer(text,text,double precision,text)",
    "tatame_complete_customer(text,text,text)",
    "tatame_release_customer_claim(text,text)",
    "tatame_claim_event(text,text,text,double precision)",
    "tatame_mark_event_processed(text,text)",
    "tatame_mark_event_failed(text,text,text)",
    "tatame_next_stamp()",
    "tatame_save_subscription(text,text,text,text,text,text,integer,bigint,boolean,bigint,bigint,bigint,bigint,bigint)",
    "tatame_attach_subscriptions(text,text)",
    "tatame_claim_purchase(text,text,text,text,double precision,text)",
    "tatame_complete_purchase(text,text,text,text,text,bigint)",
    "tatame_release_purchase_claim(text,text,text,text)",
    "tatame_save_features(text,text,text[],bigint)",
    "tatame_save_outbox(text,jsonb,bigint,double precision)",
    "tatame_claim_outbox(double precision,text,double precision,integer,boolean)",
    "tatame_mark_outbox_sent(text,text,bigint,double precision)",
    "tatame_mark_outbox_failed(text,text,text,double precision)",
    "tatame_count_outbox_pending()",
    "tatame_save_payment(text,text,text,text,text,text,bigint,bigint,text,bigint,bigint,bigint,text,text,text,text,bigint)",
    "tatame_list_payments(text,integer,bigint,text)",
)
# One row of each table, named by a column: what the per-table tests insert and update.
SAMPLE_ROWS = {
    "stripe_customer_mapping": ("INSERT INTO stripe_customer_mapping (clerk_user_id, stripe_customer_id, status)"
                                " VALUES ('user_1', 'cus_1', 'active')", "clerk_user_id", "user_1"),
    "stripe_webhook_events": ("INSERT INTO stripe_webhook_events (stripe_event_id, event_type, status)"
                              " VALUES ('evt_1', 'customer.created', 'processing')", "stripe_event_id", "evt_1"),
    "stripe_subscriptions": ("INSERT INTO stripe_subscriptions (stripe_subscription_id, stripe_customer_id, status,"
                             " stripe_created, stamp) VALUES ('sub_1', 'cus_1', 'active', 1, 1)",
                             "stripe_subscription_id", "sub_1"),
    "stripe_purchase_claims": ("INSERT INTO stripe_purchase_claims (kind, clerk_user_id, price_id)"
                               " VALUES ('checkout', 'user_1', 'price_1')", "clerk_user_id", "user_1"),
    "stripe_features": ("INSERT INTO stripe_features (stripe_customer_id, features, stamp)"
                        " VALUES ('cus_1', ARRAY['open_mat'], 1)", "stripe_customer_id", "cus_1"),
    "stripe_clerk_outbox": ("INSERT INTO stripe_clerk_outbox (clerk_user_id, state, stamp, changed_at, next_attempt_at)"
                            " VALUES ('user_1', jsonb_build_object(), 1, 1, 1)", "clerk_user_id", "user_1"),
    "stripe_payments": ("INSERT INTO stripe_payments (stripe_id, kind, status, amount_due, amount_paid, currency,"
                        " stripe_created, stamp) VALUES ('in_1', 'invoice', 'paid', 100, 100, 'brl', 1, 1)",
                        "stripe_id", "in_1"),
}


def _insert_mapping(conn, clerk_user_id, stripe_customer_id=None, status="pending"):
    conn.execute(
        "INSERT INTO stripe_customer_mapping (clerk_user_id, stripe_customer_id, status) VALUES (%s, %s, %s)",
        (clerk_user_id, stripe_customer_id, status),
    )


def _insert_event(conn, event_id, status="processing"):
    conn.execute(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, status) VALUES (%s, 'customer.created', %s)",
        (event_id, status),
    )


def test_migrations_apply_again_without_error_or_change(db, pg_dsn):
    def schema():
        return db.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()

    _insert_mapping(db, "user_1", "cus_1", "active")
    before = schema()
    apply_migrations(pg_dsn)  # the third time this session
    assert schema() == before
    assert db.execute("SELECT status FROM stripe_customer_mapping").fetchall() == [("active",)]


def test_migrations_use_idempotent_statements_only():
    text = MIGRATIONS.read_text().upper()
    assert "CREATE TABLE IF NOT EXISTS" in text and "DROP TRIGGER IF EXISTS" in text
    for bare in ("CREATE TABLE PUBLIC", "CREATE INDEX IDX", "CREATE FUNCTION", "DROP TABLE"):
        assert bare not in text


def test_columns_and_defaults(db):
    db.execute("INSERT INTO stripe_customer_mapping (clerk_user_id) VALUES ('user_1')")
    row = db.execute(
        "SELECT id, status, generation, stripe_customer_id, created_at, updated_at FROM stripe_customer_mapping"
    ).fetchone()
    assert row[0] is not None and row[1:4] == ("pending", 0, None)
    assert row[4].tzinfo is not None and row[4] == row[5]
    db.execute("INSERT INTO stripe_webhook_events (stripe_event_id, event_type) VALUES ('evt_1', 'customer.created')")
    assert db.execute("SELECT status, attempts, processed_at FROM stripe_webhook_events").fetchone() == (
        "processing", 0, None,
    )


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO stripe_customer_mapping (clerk_user_id, stripe_customer_id) VALUES ('user_1', 'cus_2')",
        "INSERT INTO stripe_customer_mapping (clerk_user_id, stripe_customer_id) VALUES ('user_2', 'cus_1')",
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type) VALUES ('evt_1', 'invoice.paid')",
        "INSERT INTO stripe_subscriptions (stripe_subscription_id, stripe_customer_id, status, stripe_created, stamp)"
        " VALUES ('sub_1', 'cus_2', 'canceled', 2, 2)",
        "INSERT INTO stripe_purchase_claims (kind, clerk_user_id, price_id) VALUES ('checkout', 'user_1', 'price_1')",
        "INSERT INTO stripe_payments (stripe_id, kind, status, amount_due, amount_paid, currency, stripe_created,"
        " stamp) VALUES ('in_1', 'payment', 'succeeded', 1, 1, 'brl', 1, 1)",
    ],
    ids=["clerk_user_id", "stripe_customer_id", "stripe_event_id", "stripe_subscription_id", "purchase-key",
         "payment-stripe-id"],
)
def test_unique_constraints(db, statement):
    for insert, *_ in SAMPLE_ROWS.values():
        db.execute(insert)
    with pytest.raises(errors.UniqueViolation):
        db.execute(statement)


def test_many_pending_rows_may_lack_a_customer_id(db):
    _insert_mapping(db, "user_1")
    _insert_mapping(db, "user_2")  # NULLs do not collide in a UNIQUE column
    assert db.execute("SELECT count(*) FROM stripe_customer_mapping").fetchone() == (2,)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO stripe_customer_mapping (clerk_user_id, status) VALUES ('user_9', 'deleted')",
        "INSERT INTO stripe_customer_mapping (clerk_user_id, status) VALUES ('user_9', 'active')",
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, status) VALUES ('evt_9', 't', 'done')",
        "INSERT INTO stripe_customer_mapping (stripe_customer_id) VALUES ('cus_9')",
        "INSERT INTO stripe_webhook_events (stripe_event_id) VALUES ('evt_9')",
        "INSERT INTO stripe_purchase_claims (kind, clerk_user_id, price_id) VALUES ('invoice', 'user_9', 'price_9')",
        "INSERT INTO stripe_purchase_claims (kind, clerk_user_id, price_id, status)"
        " VALUES ('checkout', 'user_9', 'price_9', 'done')",
        "INSERT INTO stripe_purchase_claims (kind, clerk_user_id, price_id, status)"
        " VALUES ('checkout', 'user_9', 'price_9', 'open')",
        "INSERT INTO stripe_purchase_claims (kind, clerk_user_id) VALUES ('checkout', 'user_9')",
        "INSERT INTO stripe_subscriptions (stripe_subscription_id, stripe_customer_id, status, stripe_created)"
        " VALUES ('sub_9', 'cus_9', 'active', 1)",
        "INSERT INTO stripe_payments (stripe_id, kind, status, amount_due, amount_paid, currency, stripe_created,"
        " stamp) VALUES ('ch_9', 'charge', 'paid', 1, 1, 'brl', 1, 1)",
        "INSERT INTO stripe_payments (stripe_id, kind, status, amount_due, amount_paid, currency, stripe_created)"
        " VALUES ('in_9', 'invoice', 'paid', 1, 1, 'brl', 1)",
    ],
    ids=["mapping-status", "active-without-customer", "event-status", "no-clerk-user", "no-event-type",
         "purchase-kind", "purchase-status", "open-without-result", "no-price", "no-stamp", "payment-kind",
         "payment-no-stamp"],
)
def test_check_and_not_null_constraints(db, statement):
    with pytest.raises((errors.CheckViolation, errors.NotNullViolation)):
        db.execute(statement)


@pytest.mark.parametrize("table", TABLES)
def test_updated_at_is_maintained_by_the_database(db, table):
    insert, *key = SAMPLE_ROWS[table]
    db.execute(insert)
    select = sql.SQL("SELECT created_at, updated_at FROM {} WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(key[0])
    )
    created, updated = db.execute(select, (key[1],)).fetchone()
    time.sleep(0.01)
    db.execute(
        sql.SQL("UPDATE {} SET id = id, updated_at = '2000-01-01' WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(key[0])
        ),
        (key[1],),
    )
    created_after, updated_after = db.execute(select, (key[1],)).fetchone()
    assert created_after == created
    assert updated_after > updated  # the trigger wins over whatever the client sent


def test_indexes(db):
    names = {row[0] for row in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {
        "idx_stripe_webhook_events_event_type",
        "idx_stripe_webhook_events_status",
        "stripe_customer_mapping_clerk_user_id_key",
        "stripe_customer_mapping_stripe_customer_id_key",
        "stripe_webhook_events_stripe_event_id_key",
        "stripe_subscriptions_stripe_subscription_id_key",
        "idx_stripe_subscriptions_clerk_user_id",
        "idx_stripe_subscriptions_stripe_customer_id",
        "stripe_purchase_claims_key",
        "stripe_features_stripe_customer_id_key",
        "idx_stripe_features_clerk_user_id",
        "stripe_payments_stripe_id_key",
        "idx_stripe_payments_user_created",
    } <= names
    key = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'stripe_purchase_claims_key'").fetchone()[0]
    assert "UNIQUE" in key and "(kind, clerk_user_id, price_id)" in key


@pytest.mark.parametrize("table", TABLES)
def test_row_level_security_is_enabled_without_policies(db, table):
    enabled = db.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass", (f"public.{table}",))
    assert enabled.fetchone() == (True,)
    assert db.execute("SELECT count(*) FROM pg_policies WHERE tablename = %s", (table,)).fetchone() == (0,)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("table", TABLES)
def test_client_roles_cannot_touch_the_tables(db, connect_as, role, table):
    db.execute(SAMPLE_ROWS[table][0])
    conn = connect_as(role)
    for statement in ("SELECT * FROM {}", "DELETE FROM {}", "UPDATE {} SET id = id", SAMPLE_ROWS[table][0]):
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL(statement).format(sql.Identifier(table)))
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
        granted = conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, f"public.{table}", privilege))
        assert granted.fetchone() == (False,), privilege


@pytest.mark.parametrize("role, allowed", [("anon", False), ("authenticated", False), ("service_role", True)])
def test_only_the_service_role_may_draw_stamps(db, connect_as, role, allowed):
    # The service role needs USAGE (nextval); what else Supabase's defaults gave it is left alone.
    for privilege in ("USAGE",) if allowed else ("USAGE", "SELECT", "UPDATE"):
        granted = db.execute("SELECT has_sequence_privilege(%s, 'public.stripe_stamp_seq', %s)", (role, privilege))
        assert granted.fetchone() == (allowed,), privilege
    conn = connect_as(role)
    if allowed:
        first = conn.execute("SELECT tatame_next_stamp()").fetchone()[0]
        assert conn.execute("SELECT tatame_next_stamp()").fetchone()[0] > first
    else:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT nextval('public.stripe_stamp_seq')")


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_rls_hides_rows_even_if_a_grant_slips_in(db, connect_as, role):
    _insert_mapping(db, "user_1", "cus_1", "active")
    conn = connect_as(role)
    with conn.transaction(force_rollback=True):
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("GRANT SELECT ON stripe_customer_mapping TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        assert conn.execute("SELECT count(*) FROM stripe_customer_mapping").fetchone() == (0,)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("function", RPC_FUNCTIONS)
def test_client_roles_cannot_execute_the_functions(db, connect_as, role, function):
    conn = connect_as(role)
    privilege = conn.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, f"public.{function}"))
    assert privilege.fetchone() == (False,)
    public = conn.execute(
        "SELECT bool_or(a.grantee = 0) FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = %s::regprocedure",
        (f"public.{function}",),
    )
    assert public.fetchone() == (False,)  # not through PUBLIC either


def test_anon_calling_a_claim_is_refused(db, connect_as):
    with pytest.raises(errors.InsufficientPrivilege):
        connect_as("anon").execute("SELECT tatame_claim_event('evt_1', 't', 'tok', 30)")
    assert db.execute("SELECT count(*) FROM stripe_webhook_events").fetchone() == (0,)


def test_service_role_reads_and_writes_through_rls(db, connect_as):
    _insert_mapping(db, "user_1", "cus_1", "active")
    conn = connect_as("service_role")
    assert conn.execute("SELECT clerk_user_id FROM stripe_customer_mapping").fetchall() == [("user_1",)]
    assert conn.execute("SELECT tatame_claim_event('evt_1', 't', 'tok', 30) ->> 'outcome'").fetchone() == ("claimed",)
    assert conn.execute("DELETE FROM stripe_customer_mapping WHERE stripe_customer_id = 'cus_1'").rowcount == 1


@pytest.mark.parametrize("function", RPC_FUNCTIONS)
def test_functions_are_security_invoker_with_a_fixed_search_path(db, function):
    definer, config = db.execute(
        "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = %s::regprocedure", (f"public.{function}",)
    ).fetchone()
    assert definer is False
    assert config == ["search_path=public"]


def test_migrations_apply_without_supabase_roles(pg_server):
    """A plain PostgreSQL, without anon/authenticated/service_role, takes the file too."""
    roles = ("anon", "authenticated", "service_role")
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS tatame_plain")
        admin.execute("CREATE DATABASE tatame_plain")
        # Roles are cluster-wide: hide them for a moment under other names (ACLs follow the oid).
        for role in roles:
            admin.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(role), sql.Identifier(f"hidden_{role}")))
        try:
            dsn = pg_server.conninfo("tatame_plain")
            apply_migrations(dsn)
            apply_migrations(dsn)
            with psycopg.connect(dsn, autocommit=True) as conn:
                claim = conn.execute("SELECT tatame_claim_event('evt_1', 't', 'tok', 30) ->> 'outcome'").fetchone()
                assert claim == ("claimed",)
                public = conn.execute(
                    "SELECT has_function_privilege('public', 'public.tatame_claim_event(text,text,text,double precision)', 'EXECUTE')"
                ).fetchone()
                assert public == (False,)
        finally:
            for role in roles:
                admin.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(f"hidden_{role}"), sql.Identifier(role)))


SEED_SCHEMA = """
CREATE TABLE stripe_customer_mapping (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id text,
    clerk_user_id text UNIQUE NOT NULL,
    stripe_customer_id text UNIQUE NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE stripe_webhook_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_event_id text UNIQUE NOT NULL,
    event_type text NOT NULL,
    processed_at timestamptz DEFAULT now(),
    created_at timestamptz DEFAULT now()
);
INSERT INTO stripe_customer_mapping (user_id, clerk_user_id, stripe_customer_id) VALUES ('user_1', 'user_1', 'cus_1');
INSERT INTO stripe_webhook_events (stripe_event_id, event_type) VALUES ('evt_old', 'customer.created');
"""


def test_migrations_upgrade_a_seed_database_in_place(pg_server):
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tatame_seed")
        conn.execute("CREATE DATABASE tatame_seed")
    dsn = pg_server.conninfo("tatame_seed")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEED_SCHEMA)
    apply_migrations(dsn)
    apply_migrations(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The seed's customer is active, its event was processed: neither may be redone.
        mapping = conn.execute("SELECT tatame_claim_customer('user_1', 'tok', 30) ->> 'owned'").fetchone()
        assert mapping == ("false",)
        event = conn.execute("SELECT tatame_claim_event('evt_old', 'customer.created', 'tok', 30)").fetchone()[0]
        assert event["outcome"] == "processed"
        fresh = conn.execute("SELECT tatame_claim_event('evt_new', 'customer.created', 'tok', 30)").fetchone()[0]
        assert (fresh["outcome"], fresh["processed_at"], fresh["status"]) == ("claimed", None, "processing")
        # The seed's NOT NULL on stripe_customer_id is gone: a pending row has no customer yet.
        claim = conn.execute("SELECT tatame_claim_customer('user_2', 'tok', 30)").fetchone()[0]
        assert (claim["owned"], claim["status"], claim["stripe_customer_id"]) == (True, "pending", None)
        upgraded = conn.execute("SELECT status, generation FROM stripe_customer_mapping WHERE clerk_user_id = 'user_1'")
        assert upgraded.fetchone() == ("active", 0)


HELPER_FUNCTIONS = (
    "tatame_insert_or_lock(regclass,jsonb,jsonb)",
    "tatame_lease_until(double precision,timestamp with time zone)",
    "tatame_lease_is_free(timestamp with time zone,timestamp with time zone)",
)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("function", HELPER_FUNCTIONS)
def test_client_roles_cannot_execute_the_shared_helpers(db, connect_as, role, function):
    conn = connect_as(role)
    privilege = conn.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, f"public.{function}"))
    assert privilege.fetchone() == (False,)
    assert conn.execute("SELECT has_function_privilege('service_role', %s, 'EXECUTE')",
                        (f"public.{function}",)).fetchone() == (True,)  # the claims run as their caller


@pytest.mark.parametrize("function", HELPER_FUNCTIONS)
def test_shared_helpers_are_security_invoker_with_a_fixed_search_path(db, function):
    definer, config = db.execute(
        "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = %s::regprocedure", (f"public.{function}",)
    ).fetchone()
    assert (definer, config) == (False, ["search_path=public"])


def test_a_new_stripe_table_gets_rls_trigger_and_privileges_without_editing_the_loop(pg_server):
    """The last section names no table: a table appended as a section is covered as it is."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS tatame_grow")
        admin.execute("CREATE DATABASE tatame_grow")
    dsn = pg_server.conninfo("tatame_grow")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;"
            " ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;"
            " CREATE TABLE public.stripe_examples (id serial PRIMARY KEY, note text,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
    apply_migrations(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.stripe_examples'::regclass"
                            ).fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.stripe_examples'::regclass"
                            " AND tgname = 'stripe_examples_set_updated_at'").fetchone() == (1,)
        conn.execute("INSERT INTO stripe_examples (note, updated_at) VALUES ('a', '2000-01-01')")
        conn.execute("UPDATE stripe_examples SET note = 'b', updated_at = '2000-01-01'")
        assert conn.execute("SELECT updated_at > '2001-01-01' FROM stripe_examples").fetchone() == (True,)
        for role, allowed in (("anon", False), ("authenticated", False), ("service_role", True)):
            granted = conn.execute("SELECT has_table_privilege(%s, 'public.stripe_examples', 'SELECT')", (role,))
            assert granted.fetchone() == (allowed,)
