"""The production factory whose `customer.updated` handler has a bug, for the error-report test under gunicorn."""

from app import create_app
from app.services.webhook_handlers import HANDLERS
from config import Config


def broken(event, ctx):
    return {}["missing"]  # a bug: KeyError


app = create_app(Config.from_env(), handlers={**HANDLERS, "customer.updated": broken})
