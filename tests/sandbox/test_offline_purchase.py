"""The whole purchase offline: payment sheet, `flask stripe pay`, `flask stripe clock`, and the sandbox's own
webhook deliveries posted through the test client (signature check and exactly-once claim included)."""

import itertools
import random
import time

import pytest

from app import create_app
from config import Config
from sandbox.compose import Sandbox, compose, sandbox_stripe_for
from sandbox.stripe.delivery import Deliverer

MONTHLY = "price_demo_unlimited_monthly"


def offline_app(tmp_path, **env):
    """The app as wsgi.py composes it with nothing configured, and its sandbox."""
    sandbox = compose(Config.from_env({"INSTANCE_PATH": str(tmp_path), "RATE_LIMIT_ENABLED": "false", **env}))
    app = create_app(sandbox.config, **sandbox.collaborators())
    app.extensions["test.sandbox"] = sandbox
    return app


class Member:
    """A developer walking the mobile purchase with curl and make: the app, its CLI, and a deliverer."""

    def __init__(self, app, mode="normal"):
        self.app, self.client, self.cli = app, app.test_client(), app.test_cli_runner()
        services = app.extensions["tatame"]
        self.auth = {"Authorization": f"Bearer {app.extensions['test.sandbox'].credentials.token('user_offline')}"}
        self.now = [time.time()]
        self.deliverer = Deliverer(sandbox_stripe_for(services.config).state, services.webhooks.secrets[0], mode=mode,
                                   clock=lambda: self.now[0], rng=random.Random(7))
        self.answers = []

    def post(self, body, headers):
        answer = self.client.post("/webhooks/stripe", data=body, headers=headers)
        self.answers.append(answer.status_code)
        return answer.status_code

    def deliver(self):
        """Let the webhooks arrive (chaos: delayed ones too, as time passes)."""
        for _ in itertools.count():
            self.deliverer.deliver_pending(self.post)
            if not self.deliverer.pending():
                return
            self.now[0] += 0.5
            assert _ < 100, "deliveries never finished"

    def run(self, *args):
        result = self.cli.invoke(args=["stripe", *args])
        assert result.exit_code == 0, result.output
        return result.output

    def membership(self):
        return self.client.get("/stripe/subscription", headers=self.auth).json["data"]

    def buy(self):
        sheet = self.client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=self.auth)
        assert sheet.status_code == 201, sheet.json
        return sheet.json["data"]


@pytest.mark.parametrize("mode", ["normal", "chaos"])
def test_payment_sheet_pay_and_a_month_later_renewed(tmp_path, mode):
    member = Member(offline_app(tmp_path), mode)
    sheet = member.buy()
    assert "succeeded" in member.run("pay", "--client-secret", sheet["client_secret"])
    assert member.membership()["access"] is False  # nothing arrived yet: the app waits for Stripe's webhooks
    member.deliver()
    paid = member.membership()
    assert (paid["status"], paid["access"]) == ("active", True)
    output = member.run("clock", "--days", "31")
    assert "renewed" in output and "paid: active" in output and "+31 days" in output
    member.deliver()
    renewed = member.membership()
    assert renewed["status"] == "active" and renewed["access"] is True
    assert renewed["subscription"]["current_period_end"] > paid["subscription"]["current_period_end"] + 27 * 86400
    assert set(member.answers) == {200}
    if mode == "chaos":
        assert len(member.answers) > member.deliverer.state.query("SELECT count(*) FROM stripe_deliveries")[0][0]


def test_declined_renewal_is_past_due_then_canceled_after_the_retries(tmp_path):
    member = Member(offline_app(tmp_path))
    member.run("pay", "--client-secret", member.buy()["client_secret"])
    output = member.run("clock", "--days", "31", "--decline")
    assert "payment failed (declined): past_due" in output and "declining charges" in output
    member.deliver()
    assert (member.membership()["status"], member.membership()["access"]) == ("past_due", False)
    output = member.run("clock", "--days", "9")  # the switch is remembered: every retry is declined
    assert "last retry failed: canceled" in output
    member.deliver()
    assert (member.membership()["status"], member.membership()["access"]) == ("canceled", False)


def test_a_declined_card_on_the_sheet_leaves_it_incomplete_until_paid(tmp_path):
    member = Member(offline_app(tmp_path))
    secret = member.buy()["client_secret"]
    member.run("clock", "--decline")
    assert "declined" in member.run("pay", "--client-secret", secret)
    member.deliver()
    assert member.membership()["status"] == "incomplete"
    member.run("clock", "--no-decline")
    member.run("pay", "--client-secret", secret)
    member.deliver()
    assert member.membership()["status"] == "active"


def test_a_trial_saves_the_card_then_is_charged_when_it_ends(tmp_path):
    """Trials go through web checkout, which saves the card; the sheet asks for the first payment at once."""
    member = Member(offline_app(tmp_path, TRIAL_DAYS="7"))
    session = member.client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=member.auth)
    assert member.client.post(f"/dev/checkout/{session.json['data']['id']}/pay").status_code == 303
    member.deliver()
    assert (member.membership()["status"], member.membership()["access"]) == ("trialing", True)
    output = member.run("clock", "--days", "8")
    assert "trial_will_end" in output and "trial ended" in output
    member.deliver()
    assert member.membership()["status"] == "active"


def test_the_deliverer_is_built_only_over_the_sandbox_stripe(tmp_path, config):
    offline = offline_app(tmp_path / "offline", SANDBOX_DELIVERY="chaos")
    sandbox: Sandbox = offline.extensions["test.sandbox"]
    deliverer = sandbox.deliverer()
    assert deliverer is not None and deliverer.mode == "chaos"
    assert deliverer.secret == offline.extensions["tatame"].webhooks.secrets[0]
    sandbox_over_stripe = compose(config)
    assert sandbox_over_stripe.deliverer() is None
    with_stripe = create_app(config, **sandbox_over_stripe.collaborators())
    for args in (["stripe", "clock", "--days", "1"], ["stripe", "pay", "--client-secret", "pi_x_secret_y"]):
        result = with_stripe.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0 and "STRIPE_SECRET_KEY" in result.output


def test_paying_an_unknown_secret_is_a_clear_error(tmp_path):
    result = offline_app(tmp_path).test_cli_runner().invoke(args=["stripe", "pay", "--client-secret", "pi_no_secret_x"])
    assert result.exit_code != 0 and "No such PaymentIntent" in result.output


def history(member):
    return member.client.get("/stripe/invoices", headers=member.auth).json["data"]


@pytest.mark.parametrize("mode", ["normal", "chaos"])
def test_the_payment_history_offline_sheet_one_time_renewal_and_decline(tmp_path, mode):
    """`flask stripe pay` for a plan and for the enrolment fee, then the clock: each leaves its row."""
    member = Member(offline_app(tmp_path), mode)
    member.run("pay", "--client-secret", member.buy()["client_secret"])
    fee = member.client.post("/stripe/payment-sheet", json={"price_id": "price_demo_enrolment"}, headers=member.auth)
    assert "succeeded" in member.run("pay", "--client-secret", fee.json["data"]["client_secret"])
    member.deliver()
    rows = history(member)
    assert sorted((r["kind"], r["status"]) for r in rows) == [("invoice", "paid"), ("payment", "succeeded")]
    payment = next(r for r in rows if r["kind"] == "payment")
    assert payment["receipt_url"] and payment["amount_paid"] > 0 and payment["period"] is None
    member.run("clock", "--days", "31")
    member.run("clock", "--days", "31", "--decline")
    member.deliver()
    rows = history(member)
    invoices = [r for r in rows if r["kind"] == "invoice"]
    assert [r["status"] for r in invoices] == ["open", "paid", "paid"]  # newest first: the declined renewal on top
    assert invoices[0]["amount_paid"] == 0 and invoices[0]["hosted_invoice_url"]
    assert set(member.answers) == {200}
