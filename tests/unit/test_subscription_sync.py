"""Subscription sync on SQLite: an older read never overwrites a newer one, whoever finishes last."""

from app.stores.sqlite import SQLiteStore
from tests.subscription_race import older_entitlements_read_finishing_last_loses, older_read_finishing_last_loses


def test_the_older_read_finishing_last_does_not_overwrite_the_newer(tmp_path):
    stripe, stored = older_read_finishing_last_loses(SQLiteStore(str(tmp_path / "race.sqlite3")))
    assert stripe["cancel_at_period_end"] is True
    assert stored.cancel_at_period_end is True and stored.status == stripe["status"] == "active"


def test_an_older_entitlements_read_finishing_last_does_not_bring_features_back(tmp_path):
    stripe, stored = older_entitlements_read_finishing_last_loses(SQLiteStore(str(tmp_path / "race.sqlite3")))
    assert stripe == [] and stored.features == () and stored.clerk_user_id == "user_race"
