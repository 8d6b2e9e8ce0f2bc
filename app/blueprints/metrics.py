"""GET /metrics: Prometheus' scrape, behind METRICS_TOKEN (registered only when one is configured)."""

from flask import Blueprint

from app.auth import protect_with_metrics_token
from app.metrics import scrape

bp = protect_with_metrics_token(Blueprint("metrics", __name__))


@bp.get("/metrics")
def metrics():
    """Every monitoring point of the seed, in the Prometheus text format."""
    body, content_type = scrape()
    return body, 200, {"Content-Type": content_type}
