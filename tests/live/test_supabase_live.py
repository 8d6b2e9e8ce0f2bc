"""The Store contract against a real Supabase project (migrations.sql applied).

Each test uses fresh random ids; the rows they leave are marked by their `user_`/`evt_`
prefixes and random suffixes. Use a test project.
"""

import pytest

from app.stores.supabase import SupabaseStore
from tests.stores_contract import StoreContract


class TestLiveSupabaseStore(StoreContract):
    @pytest.fixture
    def store(self, live_config):
        if not live_config.uses_supabase:
            pytest.skip("set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (a test project) for the Supabase checks")
        return SupabaseStore(live_config.supabase_url, live_config.supabase_service_role_key)
