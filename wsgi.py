"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`. The one place that reads the environment.

Production builds the app from its configuration alone. Anywhere else, the sandbox (sandbox/)
stands in for each account that is not configured; production never imports it.
"""

from app import create_app
from config import Config

config = Config.from_env()
if config.is_production:
    app, sandbox = create_app(config), None
else:
    from sandbox.compose import compose

    sandbox = compose(config)
    app = create_app(config, **sandbox.collaborators())


def post_worker_init(worker) -> None:
    """Run by gunicorn.conf.py in each worker once it runs: the plan's sender starts (it retries what an earlier
    worker left pending); the sandbox delivers its Stripe's events."""
    publisher = app.extensions["tatame"].publisher
    if publisher is not None and publisher.background:
        publisher.start()
    if sandbox is not None:
        sandbox.post_worker_init(worker)
