"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`. The one place that reads the environment."""

from app import create_app
from config import Config

app = create_app(Config.from_env())
