"""Persistence: the Store interface, SQLite (embedded) and Supabase (production) behind it."""

from __future__ import annotations

from app.stores.base import Store
from config import Config

__all__ = ["Store", "build_store"]


def build_store(config: Config) -> tuple[Store, str]:
    """The store for `config` and what backs it: Supabase, or (outside production) SQLite."""
    if config.uses_supabase:
        from app.stores.supabase import SupabaseStore

        return SupabaseStore(config.supabase_url, config.supabase_service_role_key), "supabase"
    if config.is_production:
        raise RuntimeError("production needs Supabase: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
    from app.stores.sqlite import SQLiteStore

    return SQLiteStore(config.sqlite_path), "sqlite"
