"""app.stores.build_store: which store a configuration gets, and production's refusal of SQLite."""

import pytest

from app.stores import build_store
from app.stores.sqlite import SQLiteStore
from app.stores.supabase import SupabaseStore
from config import Config


def test_nothing_configured_is_sqlite_at_the_configured_path(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    store, mode = build_store(Config(sqlite_path=path))
    try:
        assert (type(store), mode, store.path) == (SQLiteStore, "sqlite", path)
    finally:
        store.close()


def test_supabase_configured_is_supabase(tmp_path):
    config = Config(supabase_url="https://project-ref.supabase.co", supabase_service_role_key="not-real",
                    sqlite_path=str(tmp_path / "never.sqlite3"))
    store, mode = build_store(config)
    try:
        assert (type(store), mode) == (SupabaseStore, "supabase")
        assert not (tmp_path / "never.sqlite3").exists()
    finally:
        store.close()


def test_production_without_supabase_refuses_to_start(tmp_path):
    config = Config(app_env="production", sqlite_path=str(tmp_path / "never.sqlite3"))
    with pytest.raises(RuntimeError, match="production needs Supabase: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        build_store(config)
    assert not (tmp_path / "never.sqlite3").exists()
