"""config.py: the environment becomes a validated Config."""

import base64
import re
from pathlib import Path

import pytest

from tests.conftest import fake_svix_secret
from config import Config, ConfigError, configuration_table, settings

PK = "pk_live_" + base64.b64encode(b"clerk.tatame.example$").decode()
PRODUCTION = {
    "APP_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_test_fake_key_for_tests_only",
    "STRIPE_WEBHOOK_SECRET": "whsec_fake_secret_number_a,whsec_fake_secret_number_b",
    "CLERK_PUBLISHABLE_KEY": PK,
    "SUPABASE_URL": "https://project.supabase.example",
    "SUPABASE_SERVICE_ROLE_KEY": "fake-service-role-key",
    "CORS_ORIGIN": "https://app.tatame.example,https://www.tatame.example",
    "CHECKOUT_SUCCESS_URL": "https://app.tatame.example/billing/success",
    "CHECKOUT_CANCEL_URL": "https://app.tatame.example/billing/cancel",
    "PORTAL_RETURN_URL": "https://app.tatame.example/billing",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_fake_publishable_key_for_tests",
}


def test_development_defaults():
    config = Config.from_env({})
    assert config.app_env == "development" and config.port == 3000
    assert config.cors_origins == ("http://localhost:3001",)
    assert config.stripe_webhook_tolerance == 300 and config.rate_limit_enabled is True
    assert not config.uses_supabase


def test_production_with_everything_starts():
    config = Config.from_env(PRODUCTION)
    assert config.stripe_webhook_secrets == ("whsec_fake_secret_number_a", "whsec_fake_secret_number_b")
    assert config.cors_origins == ("https://app.tatame.example", "https://www.tatame.example")
    assert config.uses_supabase


@pytest.mark.parametrize("missing", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SUPABASE_URL",
                                     "SUPABASE_SERVICE_ROLE_KEY", "CORS_ORIGIN", "CLERK_PUBLISHABLE_KEY"])
def test_production_refuses_a_missing_value_and_names_it(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError) as error:
        Config.from_env(env)
    name = "CLERK_" if missing == "CLERK_PUBLISHABLE_KEY" else missing
    assert any(name in problem for problem in error.value.problems)


@pytest.mark.parametrize(
    "name, value",
    [("PORT", "eighty"), ("PORT", "70000"), ("STRIPE_WEBHOOK_TOLERANCE", "-5"), ("STRIPE_SECRET_KEY", "pk_test_x"),
     ("STRIPE_WEBHOOK_SECRET", "secret"), ("SUPABASE_URL", "http://plain.example"), ("CORS_ORIGIN", "*"),
     ("CORS_ORIGIN", "app.example.com"), ("RATE_LIMIT_ENABLED", "maybe"), ("RATE_LIMIT_USER", "lots"),
     ("CLERK_PUBLISHABLE_KEY", "pk_test_garbage"), ("CLERK_JWT_KEY", "not a pem"), ("APP_ENV", "staging"),
     ("REDIS_URL", "http://redis"), ("CLERK_JWKS_URL", "ftp://x"), ("STRIPE_WEBHOOK_SECRET", "whsec_"),
     ("STRIPE_WEBHOOK_SECRET", "whsec_short"), ("STRIPE_WEBHOOK_SECRET", "whsec_fake_secret_number_a,whsec_"),
     ("STRIPE_API_BASE", "http://stripe-proxy.example"), ("CLERK_REQUIRE_AZP", "maybe"),
     ("CLERK_ISSUERS", "http://clerk.tatame.example"), ("CLERK_ISSUERS", "clerk.tatame.example"),
     ("CLERK_ISSUERS", "https://clerk.tatame.example,https://"), ("CLERK_ISSUERS", "https://proxy.example/?x=1"),
     ("CLERK_JWT_KEY", "-----BEGIN PUBLIC KEY-----\\nnot really a key\\n-----END PUBLIC KEY-----"),
     ("CLERK_WEBHOOK_SECRET", "whsec_"), ("CLERK_WEBHOOK_SECRET", "whsec_c2hvcnQ="),  # 5 bytes: guessable
     ("CLERK_WEBHOOK_SECRET", "whsec_not base64 at all!!"), ("CLERK_WEBHOOK_SECRET", "sk_dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="),
     ("ACCOUNT_DELETION_REFUND", "full")],
)
def test_production_refuses_a_malformed_value_and_names_it(name, value):
    with pytest.raises(ConfigError) as error:
        Config.from_env({**PRODUCTION, name: value})
    assert any(name in problem for problem in error.value.problems)


def test_clerk_webhook_secrets_are_svix_secrets_comma_separated_and_optional():
    assert Config.from_env(PRODUCTION).clerk_webhook_secrets == ()  # optional: /webhooks/clerk refuses everything
    old, new = fake_svix_secret("testtesttesttesttest"), fake_svix_secret("fake-rotated-secret-for-tests")
    config = Config.from_env({**PRODUCTION, "CLERK_WEBHOOK_SECRET": f"{old}, {new}"})
    assert config.clerk_webhook_secrets == (old, new)
    assert set(config.clerk_webhook_secrets) <= set(config.secrets())  # scrubbed from logs, never in repr
    assert "dGVzdHRlc3R0ZXN0dGVzdHRlc3Q" not in repr(config)
    assert config.account_deletion_refund == "none"


def test_azp_is_optional_unless_required():
    assert Config.from_env(PRODUCTION).clerk_require_azp is False
    env = {**PRODUCTION, "CLERK_AUTHORIZED_PARTIES": "https://app.tatame.example", "CLERK_REQUIRE_AZP": "true"}
    config = Config.from_env(env)
    assert config.clerk_require_azp is True and config.clerk_authorized_parties == ("https://app.tatame.example",)


def test_extra_issuers_are_https_urls():
    assert Config.from_env(PRODUCTION).clerk_issuers == ()
    env = {**PRODUCTION, "CLERK_ISSUERS": " https://app.tatame.example/__clerk/ , https://clerk.satellite.example"}
    expected = ("https://app.tatame.example/__clerk", "https://clerk.satellite.example")
    assert Config.from_env(env).clerk_issuers == expected
    with pytest.raises(ConfigError):
        Config.from_env({"CLERK_ISSUERS": "http://localhost:3000"})  # outside production too: an issuer is https


def test_requiring_azp_needs_authorized_parties():
    with pytest.raises(ConfigError) as error:
        Config.from_env({"CLERK_REQUIRE_AZP": "true"})
    assert any("CLERK_REQUIRE_AZP" in problem for problem in error.value.problems)


def test_sandbox_delivery_is_normal_or_chaos():
    assert Config.from_env({}).sandbox_delivery == "normal"
    assert Config.from_env({"SANDBOX_DELIVERY": "Chaos"}).sandbox_delivery == "chaos"
    with pytest.raises(ConfigError) as error:
        Config.from_env({"SANDBOX_DELIVERY": "fast"})
    assert any("SANDBOX_DELIVERY" in problem for problem in error.value.problems)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        Config.from_env({"APP_ENV": "production", "PORT": "x"})
    assert len(error.value.problems) >= 6


def test_secrets_never_appear_in_repr_or_errors():
    config = Config.from_env(PRODUCTION)
    text = repr(config)
    for secret in config.secrets():
        assert secret not in text
    with pytest.raises(ConfigError) as error:
        Config.from_env({**PRODUCTION, "STRIPE_SECRET_KEY": "pk_live_looks_secret_value"})
    assert "looks_secret_value" not in str(error.value)


def test_supabase_settings_go_together():
    with pytest.raises(ConfigError):
        Config.from_env({"SUPABASE_URL": "https://project.supabase.example"})


def test_dotenv_is_read_when_present(tmp_path, monkeypatch):
    import config as config_module

    (tmp_path / ".env").write_text("PORT=4321\n")
    monkeypatch.setattr(config_module, "BASE_DIR", tmp_path)
    monkeypatch.delenv("PORT", raising=False)
    assert Config.from_env().port == 4321


@pytest.mark.parametrize("value", ["localhost:3001", "app.example.com", "tatame:", "https://app.example/path"])
def test_billing_redirect_origins_are_origins_or_app_schemes(value):
    with pytest.raises(ConfigError, match="BILLING_REDIRECT_ORIGINS"):
        Config.from_env({"BILLING_REDIRECT_ORIGINS": value})
    assert Config.from_env({"BILLING_REDIRECT_ORIGINS": "tatame://,https://app.example"}).billing_redirect_origins


ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_configuration_table_is_current():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == configuration_table(), "docs/configuration.md is out of date: run `make config-docs`"


def test_every_variable_the_code_reads_is_declared_once():
    declared = [setting.env for setting in settings().values()]
    assert len(declared) == len(set(declared))
    sources = [*ROOT.glob("app/**/*.py"), ROOT / "gunicorn.conf.py", ROOT / "wsgi.py"]
    read = {name for path in sources
            for name in re.findall(r"os\.(?:environ(?:\.get\(|\[)|getenv\()\s*[\"']([A-Z0-9_]+)", path.read_text())}
    assert read and read <= set(declared), f"read but not declared in config.py: {read - set(declared)}"


def test_the_server_settings_are_checked_too():
    assert Config.server_from_env({"WEB_CONCURRENCY": "2", "PORT": "4000"}).workers == 2
    with pytest.raises(ConfigError) as error:
        Config.server_from_env({"WEB_CONCURRENCY": "many", "GUNICORN_WORKER_CLASS": "eventlet"})
    assert len(error.value.problems) == 2


def test_production_never_takes_a_development_default():
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith(("CHECKOUT_", "PORTAL_"))}
    config = Config.from_env({**env, "BILLING_ENABLED": "false", "CHECKOUT_SUCCESS_URL": ""})
    assert (config.checkout_success_url, config.checkout_cancel_url, config.portal_return_url) == (None, None, None)
    with pytest.raises(ConfigError, match="CORS_ORIGIN is required"):
        Config.from_env({**PRODUCTION, "CORS_ORIGIN": " "})
