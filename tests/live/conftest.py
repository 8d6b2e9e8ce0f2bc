"""Live checks against real accounts (`make test-live`), each skipped unless its keys are set.

Keys come from the environment or `.env`. Only test-mode Stripe keys are accepted: these
tests create and delete a customer. Run them against test accounts, never production ones.
"""

import pytest

from config import Config, ConfigError


@pytest.fixture(scope="session")
def live_config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        pytest.fail(f"the environment is not a valid configuration: {exc}")
