"""Persistence: the Store interface (base.py) and its two backends, SQLite and Supabase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Store

if TYPE_CHECKING:
    from config import Config


def build_store(config: Config) -> tuple[Store, str]:
    """The configured store and its mode ("supabase" or "sqlite"); production must have Supabase."""
    if config.uses_supabase:
        from .supabase import SupabaseStore  # imported here: supabase-py is slow to import

        return SupabaseStore(config.supabase_url, config.supabase_service_role_key), "supabase"
    if config.is_production:
        raise RuntimeError("production needs Supabase: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
    from .sqlite import SQLiteStore

    return SQLiteStore(config.sqlite_path), "sqlite"
