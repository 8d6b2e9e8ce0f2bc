"""The Store contract: what every backend must do, whatever it is built on.

Hook a backend in by subclassing `StoreContract` in a `Test*` class that provides a `store`
fixture (a fresh or shared store; ids here are unique per test, so rows left by other tests
do not matter):

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = SQLiteStore(str(tmp_path / "db.sqlite3"))
            yield store
            store.close()

`StoreContract` itself has no `Test` prefix, so pytest never collects it on its own.
"""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from datetime import datetime, timezone

from app.stores.base import ClaimOutcome, FeaturesRecord, PaymentRecord, SubscriptionRecord
from tests.servers import parallel

LEASE = 30.0
SHORT_LEASE = 0.05
AFTER_SHORT_LEASE = 0.2  # generous: the lease is judged by the store's clock, not ours
RACERS = 20
MAX_ERROR_LENGTH = 2000


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _aware(moment: datetime | None) -> bool:
    return moment is not None and moment.tzinfo is not None and moment.utcoffset() is not None


def _subscription(subscription_id: str, customer: str, user: str | None, stamp: int, **changes) -> SubscriptionRecord:
    """A subscription as the service would store it; `changes` override the defaults."""
    fields = dict(
        stripe_subscription_id=subscription_id, stripe_customer_id=customer, clerk_user_id=user, status="active",
        price_id="price_monthly", product_id="prod_academy", quantity=1,
        current_period_end=4_102_444_800,  # 2100-01-01: past 2**31, so the column must hold 64 bits
        cancel_at_period_end=False, cancel_at=None, canceled_at=None, trial_end=None,
        stripe_created=1_767_225_600, stamp=stamp,
    )
    return SubscriptionRecord(**{**fields, **changes})


def _payment(stripe_id: str, user: str | None, stamp: int, **changes) -> PaymentRecord:
    """An invoice as the service would store it; `changes` override the defaults."""
    fields = dict(
        stripe_id=stripe_id, kind="invoice", clerk_user_id=user, stripe_customer_id="cus_payments", number="A1-0001",
        status="paid", amount_due=14_990, amount_paid=14_990, currency="brl", stripe_created=1_767_225_600,
        period_start=1_767_225_600, period_end=4_102_444_800, description="Academia mensal",
        hosted_invoice_url="https://invoice.example.test/i/1", invoice_pdf="https://invoice.example.test/i/1/pdf",
        receipt_url=None, stamp=stamp,
    )
    return PaymentRecord(**{**fields, **changes})


def _stored(record):
    """What a read should equal: the record without the store's own updated_at."""
    return dataclasses.replace(record, updated_at=None)


class StoreContract:
    """Backend-agnostic tests; a subclass supplies the `store` fixture."""

    def test_ping(self, store):
        store.ping()

    # --- customer mappings -----------------------------------------------------
    def test_mapping_absent_is_none(self, store):
        assert store.get_customer_mapping(_id("user")) is None

    def test_first_claim_is_owned_and_pending(self, store):
        user = _id("user")
        before = datetime.now(timezone.utc)
        claim = store.claim_customer(user, "token-a", LEASE)
        assert claim.owned
        mapping = claim.mapping
        assert (mapping.clerk_user_id, mapping.status, mapping.generation) == (user, "pending", 0)
        assert mapping.stripe_customer_id is None and not mapping.is_active
        assert mapping.claim_token == "token-a"
        assert _aware(mapping.lease_expires_at) and _aware(mapping.created_at) and _aware(mapping.updated_at)
        # Clocks may differ a little between the store and the tests; a lease of 30 s cannot.
        assert mapping.lease_expires_at > before
        assert store.get_customer_mapping(user) == mapping

    def test_second_claim_is_not_owned_while_the_lease_lives(self, store):
        user = _id("user")
        first = store.claim_customer(user, "token-a", LEASE)
        second = store.claim_customer(user, "token-b", LEASE)
        assert not second.owned
        assert second.mapping.claim_token == "token-a"
        assert second.mapping.lease_expires_at == first.mapping.lease_expires_at
        assert store.get_customer_mapping(user).claim_token == "token-a"

    def test_expired_lease_is_taken_over_in_the_same_generation(self, store):
        user = _id("user")
        store.claim_customer(user, "token-a", SHORT_LEASE)
        time.sleep(AFTER_SHORT_LEASE)
        claim = store.claim_customer(user, "token-b", LEASE)
        assert claim.owned
        assert (claim.mapping.claim_token, claim.mapping.status, claim.mapping.generation) == ("token-b", "pending", 0)
        assert not store.complete_customer(user, "token-a", "cus_late")  # the old owner lost it

    def test_complete_with_the_owning_token_activates(self, store):
        user, customer = _id("user"), _id("cus")
        store.claim_customer(user, "token-a", LEASE)
        assert store.complete_customer(user, "token-a", customer)
        mapping = store.get_customer_mapping(user)
        assert mapping.is_active and mapping.status == "active"
        assert mapping.stripe_customer_id == customer
        assert mapping.claim_token is None and mapping.lease_expires_at is None
        assert not store.complete_customer(user, "token-a", _id("cus"))  # already done
        assert store.get_customer_mapping(user).stripe_customer_id == customer

    def test_complete_with_another_token_is_refused(self, store):
        user = _id("user")
        store.claim_customer(user, "token-a", LEASE)
        assert not store.complete_customer(user, "token-b", _id("cus"))
        mapping = store.get_customer_mapping(user)
        assert mapping.status == "pending" and mapping.stripe_customer_id is None

    def test_complete_without_a_mapping_is_refused(self, store):
        assert not store.complete_customer(_id("user"), "token-a", _id("cus"))

    def test_active_mapping_is_not_claimed(self, store):
        user, customer = _id("user"), _id("cus")
        store.claim_customer(user, "token-a", LEASE)
        store.complete_customer(user, "token-a", customer)
        claim = store.claim_customer(user, "token-b", LEASE)
        assert not claim.owned
        assert claim.mapping.is_active and claim.mapping.stripe_customer_id == customer

    def test_release_lets_the_next_claim_own(self, store):
        user = _id("user")
        store.claim_customer(user, "token-a", LEASE)
        store.release_customer_claim(user, "token-a")
        claim = store.claim_customer(user, "token-b", LEASE)
        assert claim.owned and claim.mapping.claim_token == "token-b" and claim.mapping.generation == 0

    def test_release_with_another_token_does_nothing(self, store):
        user = _id("user")
        store.claim_customer(user, "token-a", LEASE)
        store.release_customer_claim(user, "token-b")
        assert not store.claim_customer(user, "token-c", LEASE).owned

    def test_stale_customer_is_replaced_in_a_new_generation(self, store):
        user, old = _id("user"), _id("cus")
        store.claim_customer(user, "token-a", LEASE)
        store.complete_customer(user, "token-a", old)
        claim = store.claim_customer(user, "token-b", LEASE, stale_customer_id=old)
        assert claim.owned
        mapping = claim.mapping
        assert (mapping.status, mapping.generation, mapping.stripe_customer_id) == ("pending", 1, None)
        assert mapping.claim_token == "token-b"
        new = _id("cus")
        assert store.complete_customer(user, "token-b", new)
        mapping = store.get_customer_mapping(user)
        assert (mapping.status, mapping.generation, mapping.stripe_customer_id) == ("active", 1, new)

    def test_stale_id_that_does_not_match_is_not_owned(self, store):
        user, current = _id("user"), _id("cus")
        store.claim_customer(user, "token-a", LEASE)
        store.complete_customer(user, "token-a", current)
        claim = store.claim_customer(user, "token-b", LEASE, stale_customer_id=_id("cus"))
        assert not claim.owned
        assert (claim.mapping.stripe_customer_id, claim.mapping.generation) == (current, 0)
        assert store.get_customer_mapping(user).is_active

    def test_stale_id_while_another_claim_is_live_is_not_owned(self, store):
        user = _id("user")
        store.claim_customer(user, "token-a", LEASE)
        assert not store.claim_customer(user, "token-b", LEASE, stale_customer_id=_id("cus")).owned

    def test_delete_customer_mapping_by_stripe_id(self, store):
        user, customer = _id("user"), _id("cus")
        store.claim_customer(user, "token-a", LEASE)
        store.complete_customer(user, "token-a", customer)
        assert store.delete_customer_mapping(_id("cus")) == 0
        assert store.delete_customer_mapping(customer) == 1
        assert store.get_customer_mapping(user) is None
        assert store.delete_customer_mapping(customer) == 0
        assert store.claim_customer(user, "token-b", LEASE).owned  # a fresh start

    def test_row_id_names_the_mapping_until_it_is_deleted(self, store):
        """The row id feeds the Stripe idempotency key: stable across takeovers, new after a delete."""
        user, customer = _id("user"), _id("cus")
        first = store.claim_customer(user, "token-a", SHORT_LEASE).mapping
        assert first.id
        time.sleep(AFTER_SHORT_LEASE)
        taken_over = store.claim_customer(user, "token-b", LEASE).mapping
        assert taken_over.id == first.id
        store.complete_customer(user, "token-b", customer)
        assert store.get_customer_mapping(user).id == first.id
        store.delete_customer_mapping(customer)
        assert store.claim_customer(user, "token-c", LEASE).mapping.id != first.id

    def test_customer_takeover_keeps_the_row_and_renews_the_lease(self, store):
        user = _id("user")
        first = store.claim_customer(user, "token-a", SHORT_LEASE).mapping
        time.sleep(AFTER_SHORT_LEASE)
        taken = store.claim_customer(user, "token-b", LEASE).mapping
        assert (taken.id, taken.created_at, taken.generation) == (first.id, first.created_at, 0)
        assert taken.lease_expires_at > first.lease_expires_at and taken.updated_at > first.updated_at
        assert store.get_customer_mapping(user) == taken

    def test_a_released_claim_is_taken_with_a_fresh_lease(self, store):
        user = _id("user")
        first = store.claim_customer(user, "token-a", LEASE).mapping
        store.release_customer_claim(user, "token-a")
        released = store.get_customer_mapping(user)
        # Judged against the store's own stamps: its clock may differ from ours.
        assert released.claim_token == "token-a" and released.lease_expires_at < first.lease_expires_at
        taken = store.claim_customer(user, "token-b", LEASE).mapping
        assert taken.claim_token == "token-b" and taken.lease_expires_at > first.lease_expires_at

    # --- webhook events --------------------------------------------------------
    def test_event_absent_is_none(self, store):
        assert store.get_event(_id("evt")) is None

    def test_new_event_is_claimed(self, store):
        event_id = _id("evt")
        claim = store.claim_event(event_id, "customer.created", "token-a", LEASE)
        assert claim.outcome is ClaimOutcome.CLAIMED
        event = claim.event
        assert (event.stripe_event_id, event.event_type, event.status) == (event_id, "customer.created", "processing")
        assert (event.attempts, event.claim_token, event.last_error, event.processed_at) == (1, "token-a", None, None)
        assert _aware(event.lease_expires_at) and _aware(event.created_at) and _aware(event.updated_at)
        assert store.get_event(event_id) == event

    def test_event_with_a_live_lease_is_in_progress(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "customer.created", "token-a", LEASE)
        claim = store.claim_event(event_id, "customer.created", "token-b", LEASE)
        assert claim.outcome is ClaimOutcome.IN_PROGRESS
        assert (claim.event.claim_token, claim.event.attempts) == ("token-a", 1)

    def test_processed_event_stays_processed(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "customer.created", "token-a", SHORT_LEASE)
        assert store.mark_event_processed(event_id, "token-a")
        event = store.get_event(event_id)
        assert event.status == "processed" and _aware(event.processed_at)
        assert event.claim_token is None and event.lease_expires_at is None
        time.sleep(AFTER_SHORT_LEASE)
        for token in ("token-b", "token-c"):
            claim = store.claim_event(event_id, "customer.created", token, LEASE)
            assert claim.outcome is ClaimOutcome.PROCESSED
            assert claim.event.attempts == 1
        assert not store.mark_event_processed(event_id, "token-a")
        assert not store.mark_event_failed(event_id, "token-a", "late")
        assert store.get_event(event_id).status == "processed"

    def test_failed_event_is_claimed_again_and_keeps_its_error_until_processed(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "invoice.payment_failed", "token-a", LEASE)
        assert store.mark_event_failed(event_id, "token-a", "boom")
        failed = store.get_event(event_id)
        assert (failed.status, failed.last_error, failed.claim_token, failed.attempts) == ("failed", "boom", None, 1)
        claim = store.claim_event(event_id, "invoice.payment_failed", "token-b", LEASE)
        assert claim.outcome is ClaimOutcome.CLAIMED
        assert (claim.event.attempts, claim.event.status, claim.event.last_error) == (2, "processing", "boom")
        assert claim.event.claim_token == "token-b"
        assert store.mark_event_processed(event_id, "token-b")
        done = store.get_event(event_id)
        assert (done.status, done.last_error, done.attempts) == ("processed", None, 2)

    def test_expired_event_lease_is_taken_over(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "customer.updated", "token-a", SHORT_LEASE)
        time.sleep(AFTER_SHORT_LEASE)
        claim = store.claim_event(event_id, "customer.updated", "token-b", LEASE)
        assert claim.outcome is ClaimOutcome.CLAIMED
        assert (claim.event.attempts, claim.event.claim_token) == (2, "token-b")
        assert not store.mark_event_processed(event_id, "token-a")  # the crashed worker lost it
        assert store.mark_event_processed(event_id, "token-b")

    def test_event_takeover_keeps_the_row_and_renews_the_lease(self, store):
        event_id = _id("evt")
        first = store.claim_event(event_id, "customer.updated", "token-a", SHORT_LEASE).event
        time.sleep(AFTER_SHORT_LEASE)
        taken = store.claim_event(event_id, "other.type", "token-b", LEASE).event
        assert (taken.created_at, taken.event_type) == (first.created_at, "customer.updated")
        assert taken.lease_expires_at > first.lease_expires_at and taken.updated_at > first.updated_at
        assert store.get_event(event_id) == taken

    def test_marks_with_another_token_are_refused(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "customer.created", "token-a", LEASE)
        assert not store.mark_event_processed(event_id, "token-b")
        assert not store.mark_event_failed(event_id, "token-b", "not mine")
        event = store.get_event(event_id)
        assert (event.status, event.claim_token, event.last_error) == ("processing", "token-a", None)

    def test_marks_on_an_unknown_event_are_refused(self, store):
        assert not store.mark_event_processed(_id("evt"), "token-a")
        assert not store.mark_event_failed(_id("evt"), "token-a", "nothing")

    def test_last_error_is_truncated(self, store):
        event_id = _id("evt")
        store.claim_event(event_id, "customer.created", "token-a", LEASE)
        assert store.mark_event_failed(event_id, "token-a", "x" * (MAX_ERROR_LENGTH + 500))
        assert store.get_event(event_id).last_error == "x" * MAX_ERROR_LENGTH

    # --- races -----------------------------------------------------------------
    def test_concurrent_event_claims_have_one_winner(self, store):
        event_id = _id("evt")
        claims = parallel(RACERS, lambda i: store.claim_event(event_id, "customer.created", f"token-{i}", LEASE))
        outcomes = [claim.outcome for claim in claims]
        assert outcomes.count(ClaimOutcome.CLAIMED) == 1
        assert outcomes.count(ClaimOutcome.IN_PROGRESS) == RACERS - 1
        winner = next(claim for claim in claims if claim.outcome is ClaimOutcome.CLAIMED)
        event = store.get_event(event_id)
        assert (event.attempts, event.claim_token) == (1, winner.event.claim_token)

    def test_concurrent_customer_claims_have_one_owner(self, store):
        user = _id("user")
        claims = parallel(RACERS, lambda i: store.claim_customer(user, f"token-{i}", LEASE))
        owners = [claim for claim in claims if claim.owned]
        assert len(owners) == 1
        assert store.get_customer_mapping(user).claim_token == owners[0].mapping.claim_token
        assert all(claim.mapping.claim_token == owners[0].mapping.claim_token for claim in claims)

    # --- subscriptions ---------------------------------------------------------
    def test_subscription_absent_is_none(self, store):
        assert store.get_subscription(_id("sub")) is None
        assert store.list_subscriptions(_id("user")) == []

    def test_saved_subscription_reads_back_field_for_field(self, store):
        record = _subscription(_id("sub"), _id("cus"), _id("user"), store.next_stamp(), status="trialing",
                               quantity=3, cancel_at_period_end=True, cancel_at=4_102_444_801,
                               canceled_at=1_767_225_700, trial_end=1_767_830_400)
        assert store.save_subscription(record)
        stored = store.get_subscription(record.stripe_subscription_id)
        assert _aware(stored.updated_at)
        assert _stored(stored) == record
        assert stored.cancel_at_period_end is True and isinstance(stored.stamp, int)

    def test_a_subscription_with_nothing_optional_reads_back(self, store):
        record = _subscription(_id("sub"), _id("cus"), None, store.next_stamp(), status="incomplete", price_id=None,
                               product_id=None, quantity=None, current_period_end=None)
        assert store.save_subscription(record)
        assert _stored(store.get_subscription(record.stripe_subscription_id)) == record

    def test_a_newer_stamp_overwrites(self, store):
        sub, customer, user = _id("sub"), _id("cus"), _id("user")
        first = _subscription(sub, customer, user, store.next_stamp(), status="incomplete")
        newer = _subscription(sub, customer, user, store.next_stamp(), status="active", quantity=2)
        assert store.save_subscription(first)
        assert store.save_subscription(newer)
        assert _stored(store.get_subscription(sub)) == newer
        assert [_stored(s) for s in store.list_subscriptions(user)] == [newer]  # still one row

    def test_an_older_or_equal_stamp_does_not_overwrite(self, store):
        sub, customer, user = _id("sub"), _id("cus"), _id("user")
        older, current = store.next_stamp(), store.next_stamp()
        assert store.save_subscription(_subscription(sub, customer, user, current, status="active"))
        before = store.get_subscription(sub)
        assert not store.save_subscription(_subscription(sub, customer, user, older, status="incomplete"))
        assert not store.save_subscription(_subscription(sub, customer, user, current, status="canceled"))
        assert store.get_subscription(sub) == before  # updated_at included: nothing was written

    def test_a_newer_read_without_a_user_keeps_the_stored_user(self, store):
        sub, customer, user = _id("sub"), _id("cus"), _id("user")
        store.save_subscription(_subscription(sub, customer, user, store.next_stamp()))
        assert store.save_subscription(_subscription(sub, customer, None, store.next_stamp(), status="canceled"))
        stored = store.get_subscription(sub)
        assert (stored.clerk_user_id, stored.status) == (user, "canceled")

    # --- features (Stripe Entitlements) ----------------------------------------
    def test_features_absent_is_none(self, store):
        assert store.get_features(_id("cus")) is None

    def test_saved_features_read_back_sorted(self, store):
        customer, user = _id("cus"), _id("user")
        assert store.save_features(FeaturesRecord(customer, user, ("open_mat", "all_classes"), store.next_stamp()))
        stored = store.get_features(customer)
        assert (stored.stripe_customer_id, stored.clerk_user_id, stored.features) == (
            customer, user, ("all_classes", "open_mat"))
        assert _aware(stored.updated_at) and isinstance(stored.stamp, int)
        assert store.save_features(FeaturesRecord(customer, user, (), store.next_stamp()))
        assert store.get_features(customer).features == ()  # none left is a row too

    def test_older_features_never_overwrite_newer(self, store):
        customer, user = _id("cus"), _id("user")
        older, current = store.next_stamp(), store.next_stamp()
        assert store.save_features(FeaturesRecord(customer, user, (), current))
        before = store.get_features(customer)
        assert not store.save_features(FeaturesRecord(customer, user, ("open_mat",), older))
        assert not store.save_features(FeaturesRecord(customer, user, ("open_mat",), current))
        assert store.get_features(customer) == before
        assert store.save_features(FeaturesRecord(customer, None, ("kids_classes",), store.next_stamp()))
        stored = store.get_features(customer)
        assert (stored.clerk_user_id, stored.features) == (user, ("kids_classes",))  # the user is kept

    def test_racing_feature_writes_end_with_the_newest_stamp(self, store):
        customer = _id("cus")
        stamps = [store.next_stamp() for _ in range(RACERS)]
        random.shuffle(stamps)
        parallel(RACERS, lambda i: store.save_features(FeaturesRecord(customer, None, (f"f{stamps[i]}",), stamps[i])))
        assert store.get_features(customer).features == (f"f{max(stamps)}",)

    # --- the Clerk outbox ---------------------------------------------------------
    def _state(self, status: str, features=()) -> dict:
        return {"status": status, "access": status == "active", "plan": "prod_academy", "features": list(features),
                "current_period_end": 4_102_444_800}

    def _mine(self, store, user: str, now: float, token: str = "tok", lease: float = LEASE) -> list:
        """Claim what is due (rows of other tests included) and keep this test's user's row."""
        return [entry for entry in store.claim_outbox(now, token, lease, 1000) if entry.clerk_user_id == user]

    def test_a_staged_state_reads_back_and_is_due_at_once(self, store):
        user, stamp, now = _id("user"), store.next_stamp(), time.time()
        assert store.get_outbox(user) is None
        assert store.save_outbox(user, self._state("active", ["open_mat"]), stamp, now)
        entry = store.get_outbox(user)
        assert (entry.state, entry.stamp, entry.attempts, entry.sent_stamp, entry.pending) == (
            self._state("active", ["open_mat"]), stamp, 0, None, True)
        assert abs(entry.changed_at - now) < 0.01 and entry.next_attempt_at <= now + 0.01
        assert store.count_outbox_pending() >= 1

    def test_an_older_state_never_replaces_a_newer_one(self, store):
        user, older, newer = _id("user"), store.next_stamp(), store.next_stamp()
        assert store.save_outbox(user, self._state("canceled"), newer, time.time())
        assert not store.save_outbox(user, self._state("active"), older, time.time())
        assert not store.save_outbox(user, self._state("active"), newer, time.time())
        assert store.get_outbox(user).state["status"] == "canceled"

    def test_one_sender_at_a_time_and_sent_is_recorded(self, store):
        user, now = _id("user"), time.time()
        first = store.next_stamp()
        store.save_outbox(user, self._state("active"), first, now)
        [claimed] = self._mine(store, user, now, "a")
        assert claimed.lease_token == "a" and claimed.stamp == first
        assert self._mine(store, user, now, "b") == []  # leased: nobody else sends it meanwhile
        second = store.next_stamp()
        assert store.save_outbox(user, self._state("canceled"), second, now)  # staged while "a" sends
        assert self._mine(store, user, now, "b") == []  # still leased: the sends cannot cross
        assert not store.mark_outbox_sent(user, "b", first, now)  # only the holder may
        assert store.mark_outbox_sent(user, "a", first, now + 1)
        entry = store.get_outbox(user)
        assert (entry.sent_stamp, entry.pending, entry.lease_token) == (first, True, None)
        [again] = self._mine(store, user, now + 1, "b")
        assert again.state["status"] == "canceled" and again.stamp == second
        assert store.mark_outbox_sent(user, "b", second, now + 2)
        assert not store.get_outbox(user).pending and self._mine(store, user, now + 3) == []

    def test_a_failed_send_waits_and_an_expired_lease_is_taken_over(self, store):
        user, now = _id("user"), time.time()
        stamp = store.next_stamp()
        store.save_outbox(user, self._state("active"), stamp, now)
        assert self._mine(store, user, now, "a")
        assert store.mark_outbox_failed(user, "a", "Clerk answered 503" + "x" * 3000, now + 60)
        entry = store.get_outbox(user)
        assert (entry.attempts, entry.lease_token, len(entry.last_error)) == (1, None, MAX_ERROR_LENGTH)
        assert self._mine(store, user, now + 59) == []  # not before its time
        assert [e.clerk_user_id for e in store.claim_outbox(now + 1, "s", 0.001, 1000, waiting_too=True)
                if e.clerk_user_id == user] == [user]  # `make sync` sends it anyway
        time.sleep(0.01)
        assert self._mine(store, user, now + 60, "b", lease=5)
        assert self._mine(store, user, now + 64, "c") == []
        [taken] = self._mine(store, user, now + 65, "c")  # "b" died: its lease ran out
        assert taken.lease_token == "c" and not store.mark_outbox_failed(user, "b", "late", now)
        newer = store.next_stamp()
        assert store.save_outbox(user, self._state("canceled"), newer, now + 66)
        assert store.get_outbox(user).attempts == 0  # a new state starts over

    def test_due_rows_come_smallest_stamp_first(self, store):
        users, now = [_id("user") for _ in range(3)], time.time()
        stamps = [store.next_stamp() for _ in users]
        for user, stamp in reversed(list(zip(users, stamps))):
            store.save_outbox(user, self._state("active"), stamp, now)
        claimed = [e.clerk_user_id for e in store.claim_outbox(now, "t", LEASE, 1000) if e.clerk_user_id in users]
        assert claimed == users

    def test_next_stamp_strictly_increases(self, store):
        stamps = [store.next_stamp() for _ in range(5)]
        assert all(isinstance(stamp, int) for stamp in stamps)
        assert stamps == sorted(set(stamps))

    def test_next_stamp_from_many_threads_is_distinct_and_newer(self, store):
        before = store.next_stamp()
        stamps = parallel(RACERS, lambda i: store.next_stamp())
        assert len(set(stamps)) == RACERS
        assert min(stamps) > before
        assert store.next_stamp() > max(stamps)

    def test_list_subscriptions_by_user(self, store):
        user, other, customer = _id("user"), _id("user"), _id("cus")
        mine = [_subscription(_id("sub"), customer, user, store.next_stamp(), status=status)
                for status in ("canceled", "active")]
        theirs = _subscription(_id("sub"), _id("cus"), other, store.next_stamp())
        nobody = _subscription(_id("sub"), customer, None, store.next_stamp())
        for record in (*mine, theirs, nobody):
            store.save_subscription(record)
        listed = sorted(store.list_subscriptions(user), key=lambda s: s.stripe_subscription_id)
        assert [_stored(s) for s in listed] == sorted(mine, key=lambda s: s.stripe_subscription_id)
        assert [_stored(s) for s in store.list_subscriptions(other)] == [theirs]

    def test_attach_fills_only_the_customers_rows_without_a_user(self, store):
        customer, user, earlier_user = _id("cus"), _id("user"), _id("user")
        orphans = [_subscription(_id("sub"), customer, None, store.next_stamp()) for _ in range(2)]
        owned = _subscription(_id("sub"), customer, earlier_user, store.next_stamp())
        elsewhere = _subscription(_id("sub"), _id("cus"), None, store.next_stamp())
        for record in (*orphans, owned, elsewhere):
            store.save_subscription(record)
        assert store.attach_subscriptions(customer, user) == 2
        assert sorted(s.stripe_subscription_id for s in store.list_subscriptions(user)) == sorted(
            s.stripe_subscription_id for s in orphans)
        assert store.get_subscription(owned.stripe_subscription_id).clerk_user_id == earlier_user
        assert store.get_subscription(elsewhere.stripe_subscription_id).clerk_user_id is None
        assert store.get_subscription(orphans[0].stripe_subscription_id).stamp == orphans[0].stamp
        assert store.attach_subscriptions(customer, user) == 0
        assert store.attach_subscriptions(_id("cus"), user) == 0

    def test_concurrent_saves_keep_the_highest_stamp(self, store):
        """Reads finishing in any order: the stored row is always the newest read's."""
        sub, customer, user = _id("sub"), _id("cus"), _id("user")
        stamps = [store.next_stamp() for _ in range(RACERS)]
        random.shuffle(stamps)
        reads = [_subscription(sub, customer, user, stamp, quantity=i) for i, stamp in enumerate(stamps)]
        written = parallel(RACERS, lambda i: store.save_subscription(reads[i]))
        newest = max(range(RACERS), key=lambda i: stamps[i])
        assert written[newest] is True
        assert _stored(store.get_subscription(sub)) == reads[newest]
        assert not store.save_subscription(reads[newest])

    # --- purchase claims -------------------------------------------------------
    def test_purchase_claim_absent_is_none(self, store):
        assert store.get_purchase_claim("checkout", _id("user"), _id("price")) is None

    def test_first_purchase_claim_is_owned_and_pending(self, store):
        user, price = _id("user"), _id("price")
        before = datetime.now(timezone.utc)
        result = store.claim_purchase("checkout", user, price, "token-a", LEASE)
        assert result.owned
        claim = result.claim
        assert (claim.kind, claim.clerk_user_id, claim.price_id, claim.status, claim.generation) == (
            "checkout", user, price, "pending", 0)
        assert (claim.result_id, claim.result_expires_at, claim.claim_token) == (None, None, "token-a")
        assert claim.id and _aware(claim.lease_expires_at) and _aware(claim.created_at) and _aware(claim.updated_at)
        assert claim.lease_expires_at > before
        assert store.get_purchase_claim("checkout", user, price) == claim

    def test_second_purchase_claim_is_not_owned_while_the_lease_lives(self, store):
        user, price = _id("user"), _id("price")
        first = store.claim_purchase("payment_sheet", user, price, "token-a", LEASE).claim
        second = store.claim_purchase("payment_sheet", user, price, "token-b", LEASE)
        assert not second.owned and second.claim == first
        assert store.get_purchase_claim("payment_sheet", user, price).claim_token == "token-a"

    def test_expired_purchase_lease_is_taken_over_keeping_row_and_generation(self, store):
        user, price = _id("user"), _id("price")
        first = store.claim_purchase("checkout", user, price, "token-a", SHORT_LEASE).claim
        time.sleep(AFTER_SHORT_LEASE)
        result = store.claim_purchase("checkout", user, price, "token-b", LEASE)
        taken = result.claim
        assert result.owned
        assert (taken.id, taken.created_at, taken.generation, taken.status) == (
            first.id, first.created_at, 0, "pending")
        assert taken.claim_token == "token-b" and taken.lease_expires_at > first.lease_expires_at
        assert not store.complete_purchase("checkout", user, price, "token-a", _id("cs"), 1)  # the old owner lost it
        assert store.get_purchase_claim("checkout", user, price) == taken

    def test_complete_purchase_with_the_owning_token_opens_it(self, store):
        user, price, session = _id("user"), _id("price"), _id("cs")
        first = store.claim_purchase("checkout", user, price, "token-a", LEASE).claim
        assert store.complete_purchase("checkout", user, price, "token-a", session, 4_102_444_800)
        claim = store.get_purchase_claim("checkout", user, price)
        assert (claim.id, claim.status, claim.generation) == (first.id, "open", 0)
        assert (claim.result_id, claim.result_expires_at) == (session, 4_102_444_800)
        assert claim.claim_token is None and claim.lease_expires_at is None
        assert not store.complete_purchase("checkout", user, price, "token-a", _id("cs"), None)  # already done
        assert store.get_purchase_claim("checkout", user, price) == claim

    def test_complete_purchase_without_an_expiry(self, store):
        user, price, subscription = _id("user"), _id("price"), _id("sub")
        store.claim_purchase("payment_sheet", user, price, "token-a", LEASE)
        assert store.complete_purchase("payment_sheet", user, price, "token-a", subscription, None)
        claim = store.get_purchase_claim("payment_sheet", user, price)
        assert (claim.status, claim.result_id, claim.result_expires_at) == ("open", subscription, None)

    def test_complete_purchase_with_another_token_or_no_row_is_refused(self, store):
        user, price = _id("user"), _id("price")
        store.claim_purchase("checkout", user, price, "token-a", LEASE)
        assert not store.complete_purchase("checkout", user, price, "token-b", _id("cs"), 1)
        claim = store.get_purchase_claim("checkout", user, price)
        assert (claim.status, claim.result_id, claim.claim_token) == ("pending", None, "token-a")
        assert not store.complete_purchase("checkout", _id("user"), price, "token-a", _id("cs"), 1)

    def test_open_purchase_is_not_claimed(self, store):
        user, price, session = _id("user"), _id("price"), _id("cs")
        store.claim_purchase("checkout", user, price, "token-a", LEASE)
        store.complete_purchase("checkout", user, price, "token-a", session, 4_102_444_800)
        result = store.claim_purchase("checkout", user, price, "token-b", LEASE)
        assert not result.owned
        assert (result.claim.status, result.claim.result_id) == ("open", session)

    def test_release_purchase_lets_the_next_claim_own(self, store):
        user, price = _id("user"), _id("price")
        first = store.claim_purchase("checkout", user, price, "token-a", LEASE).claim
        store.release_purchase_claim("checkout", user, price, "token-a")
        released = store.get_purchase_claim("checkout", user, price)
        assert released.claim_token == "token-a" and released.lease_expires_at < first.lease_expires_at
        result = store.claim_purchase("checkout", user, price, "token-b", LEASE)
        assert result.owned
        assert (result.claim.id, result.claim.generation, result.claim.claim_token) == (first.id, 0, "token-b")

    def test_release_purchase_with_another_token_does_nothing(self, store):
        user, price = _id("user"), _id("price")
        store.claim_purchase("checkout", user, price, "token-a", LEASE)
        store.release_purchase_claim("checkout", user, price, "token-b")
        assert not store.claim_purchase("checkout", user, price, "token-c", LEASE).owned

    def test_stale_result_is_replaced_in_a_new_generation(self, store):
        user, price, old = _id("user"), _id("price"), _id("cs")
        first = store.claim_purchase("checkout", user, price, "token-a", LEASE).claim
        store.complete_purchase("checkout", user, price, "token-a", old, 1_767_225_600)
        result = store.claim_purchase("checkout", user, price, "token-b", LEASE, stale_result_id=old)
        assert result.owned
        claim = result.claim
        assert (claim.id, claim.status, claim.generation, claim.claim_token) == (first.id, "pending", 1, "token-b")
        assert (claim.result_id, claim.result_expires_at) == (None, None)
        # The same stale id again, while the replacement is under way: not ours.
        assert not store.claim_purchase("checkout", user, price, "token-c", LEASE, stale_result_id=old).owned
        new = _id("cs")
        assert store.complete_purchase("checkout", user, price, "token-b", new, 4_102_444_800)
        claim = store.get_purchase_claim("checkout", user, price)
        assert (claim.status, claim.generation, claim.result_id, claim.result_expires_at) == (
            "open", 1, new, 4_102_444_800)

    def test_stale_result_id_that_does_not_match_is_not_owned(self, store):
        user, price, current = _id("user"), _id("price"), _id("sub")
        store.claim_purchase("payment_sheet", user, price, "token-a", LEASE)
        store.complete_purchase("payment_sheet", user, price, "token-a", current, None)
        result = store.claim_purchase("payment_sheet", user, price, "token-b", LEASE, stale_result_id=_id("sub"))
        assert not result.owned
        assert (result.claim.status, result.claim.result_id, result.claim.generation) == ("open", current, 0)
        assert store.get_purchase_claim("payment_sheet", user, price) == result.claim

    def test_stale_result_id_while_another_claim_is_live_is_not_owned(self, store):
        user, price = _id("user"), _id("price")
        store.claim_purchase("checkout", user, price, "token-a", LEASE)
        assert not store.claim_purchase("checkout", user, price, "token-b", LEASE, stale_result_id=_id("cs")).owned

    def test_purchase_claims_are_keyed_by_kind_user_and_price(self, store):
        user, price, other_price, other_user = _id("user"), _id("price"), _id("price"), _id("user")
        keys = [("checkout", user, price), ("checkout", user, other_price), ("payment_sheet", user, price),
                ("checkout", other_user, price)]
        results = [store.claim_purchase(*key, f"token-{i}", LEASE) for i, key in enumerate(keys)]
        assert all(result.owned for result in results)
        assert len({result.claim.id for result in results}) == len(keys)
        store.complete_purchase(*keys[0], "token-0", _id("cs"), 1)
        for i, key in enumerate(keys[1:], start=1):  # finishing one leaves the others as they were
            assert store.get_purchase_claim(*key) == results[i].claim

    def test_concurrent_purchase_claims_have_one_owner(self, store):
        user, price = _id("user"), _id("price")
        results = parallel(RACERS, lambda i: store.claim_purchase("checkout", user, price, f"token-{i}", LEASE))
        owners = [result for result in results if result.owned]
        assert len(owners) == 1
        assert {result.claim.claim_token for result in results} == {owners[0].claim.claim_token}
        assert {result.claim.id for result in results} == {owners[0].claim.id}

    def test_concurrent_stale_replacements_have_one_owner(self, store):
        user, price, old = _id("user"), _id("price"), _id("sub")
        store.claim_purchase("payment_sheet", user, price, "token-a", LEASE)
        store.complete_purchase("payment_sheet", user, price, "token-a", old, None)
        results = parallel(RACERS, lambda i: store.claim_purchase("payment_sheet", user, price, f"token-{i}", LEASE,
                                                                  stale_result_id=old))
        owners = [result for result in results if result.owned]
        assert len(owners) == 1
        claim = store.get_purchase_claim("payment_sheet", user, price)
        assert (claim.status, claim.generation, claim.claim_token) == ("pending", 1, owners[0].claim.claim_token)

    # --- payment history -------------------------------------------------------
    def test_payment_absent_is_none(self, store):
        assert store.get_payment(_id("in")) is None
        assert store.list_payments(_id("user"), 10) == []

    def test_saved_payments_read_back_field_for_field(self, store):
        user = _id("user")
        invoice = _payment(_id("in"), user, store.next_stamp())
        payment = _payment(_id("pi"), user, store.next_stamp(), kind="payment", number=None, status="succeeded",
                           amount_due=5_000, amount_paid=5_000, period_start=None, period_end=None,
                           hosted_invoice_url=None, invoice_pdf=None, receipt_url="https://pay.example.test/r/1",
                           stripe_customer_id=None, description=None)
        for record in (invoice, payment):
            assert store.save_payment(record)
            stored = store.get_payment(record.stripe_id)
            assert _aware(stored.updated_at)
            assert _stored(stored) == record

    def test_a_payment_is_written_only_by_a_newer_read(self, store):
        stripe_id, user = _id("in"), _id("user")
        older, current, newer = store.next_stamp(), store.next_stamp(), store.next_stamp()
        assert store.save_payment(_payment(stripe_id, user, current, status="open", amount_paid=0))
        before = store.get_payment(stripe_id)
        assert not store.save_payment(_payment(stripe_id, user, older, status="draft"))
        assert not store.save_payment(_payment(stripe_id, user, current, status="void"))
        assert store.get_payment(stripe_id) == before  # nothing written, updated_at included
        assert store.save_payment(_payment(stripe_id, None, newer, status="paid"))
        stored = store.get_payment(stripe_id)
        assert (stored.status, stored.clerk_user_id, stored.stamp) == ("paid", user, newer)  # the user is kept
        assert [p.stripe_id for p in store.list_payments(user, 10)] == [stripe_id]  # still one row

    def test_payments_list_newest_first_by_created_then_id_with_a_cursor(self, store):
        user, other = _id("user"), _id("user")
        created = [1_767_225_600, 1_767_225_600, 1_767_225_600, 1_767_312_000, 1_767_139_200]
        mine = [_payment(f"in_{chr(ord('a') + i)}{_id('x')}", user, store.next_stamp(), stripe_created=moment)
                for i, moment in enumerate(created)]
        mine.append(_payment(f"in_B{_id('x')}", user, store.next_stamp(), stripe_created=1_767_225_600))  # "B" < "a"
        for record in (*mine, _payment(_id("in"), other, store.next_stamp()), _payment(_id("in"), None,
                                                                                        store.next_stamp())):
            store.save_payment(record)
        expected = [r.stripe_id for r in sorted(mine, key=lambda r: (r.stripe_created, r.stripe_id), reverse=True)]
        assert [p.stripe_id for p in store.list_payments(user, 100)] == expected
        walked, after = [], None
        while True:
            page = store.list_payments(user, 2, after)
            if not page:
                break
            assert len(page) <= 2
            walked += [p.stripe_id for p in page]
            after = (page[-1].stripe_created, page[-1].stripe_id)
        assert walked == expected
        assert len(store.list_payments(other, 100)) == 1

    def test_concurrent_payment_saves_keep_the_highest_stamp(self, store):
        stripe_id, user = _id("pi"), _id("user")
        stamps = [store.next_stamp() for _ in range(RACERS)]
        random.shuffle(stamps)
        reads = [_payment(stripe_id, user, stamp, kind="payment", amount_paid=i) for i, stamp in enumerate(stamps)]
        written = parallel(RACERS, lambda i: store.save_payment(reads[i]))
        newest = max(range(RACERS), key=lambda i: stamps[i])
        assert written[newest] is True
        assert _stored(store.get_payment(stripe_id)) == reads[newest]

    # --- accounts (Clerk) --------------------------------------------------------
    def test_a_clerk_change_is_recorded_and_an_older_one_refused(self, store):
        user = _id("user")
        assert store.advance_clerk_user(user, 1_767_225_600_000)
        assert store.advance_clerk_user(user, 1_767_225_600_000)  # the same change again: a retry applies
        assert store.advance_clerk_user(user, 1_767_225_600_001)
        assert not store.advance_clerk_user(user, 1_767_225_600_000)
        assert store.advance_clerk_user(_id("user"), 1)  # per user

    def test_concurrent_clerk_changes_end_with_the_latest(self, store):
        user = _id("user")
        stamps = list(range(1, RACERS + 1))
        random.shuffle(stamps)
        parallel(RACERS, lambda i: store.advance_clerk_user(user, stamps[i]))
        assert not store.advance_clerk_user(user, RACERS - 1)
        assert store.advance_clerk_user(user, RACERS)

    def test_forget_user_removes_every_row_about_them_and_nobody_elses(self, store):
        user, other, customer, orphan = _id("user"), _id("user"), _id("cus"), _id("cus")
        assert store.claim_customer(user, "tok", LEASE).owned
        assert store.complete_customer(user, "tok", customer)
        assert store.claim_customer(other, "tok", LEASE).owned
        store.save_subscription(_subscription(_id("sub"), customer, user, store.next_stamp()))
        store.save_subscription(_subscription(_id("sub"), customer, None, store.next_stamp()))  # by customer only
        store.save_subscription(_subscription(_id("sub"), orphan, None, store.next_stamp()))  # named by the caller
        kept = _subscription(_id("sub"), _id("cus"), other, store.next_stamp())
        store.save_subscription(kept)
        assert store.claim_purchase("checkout", user, "price_monthly", "tok", LEASE).owned
        assert store.save_payment(_payment(_id("in"), user, store.next_stamp(), stripe_customer_id=customer))
        assert store.save_payment(_payment(_id("in"), None, store.next_stamp(), stripe_customer_id=customer))
        kept_payment = _payment(_id("in"), other, store.next_stamp(), stripe_customer_id=_id("cus"))
        assert store.save_payment(kept_payment)
        assert store.advance_clerk_user(user, 5)
        assert store.claim_event(_id("evt"), "customer.created", "tok", LEASE).outcome is ClaimOutcome.CLAIMED

        assert store.forget_user(user, (orphan,)) == 8
        assert store.get_customer_mapping(user) is None and store.list_subscriptions(user) == []
        assert store.get_purchase_claim("checkout", user, "price_monthly") is None
        assert store.advance_clerk_user(user, 1)  # no stamp left: an old change would be new again
        assert store.forget_user(user) == 1 and store.forget_user(user) == 0  # idempotent
        assert store.get_customer_mapping(other) is not None
        assert _stored(store.get_subscription(kept.stripe_subscription_id)) == kept
        assert _stored(store.get_payment(kept_payment.stripe_id)) == kept_payment
        assert store.list_payments(user, 10) == []
