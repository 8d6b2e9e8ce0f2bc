"""GET /openapi.json: the API's description, generated from the routes themselves. Public."""

from flask import Blueprint, current_app

from app.auth import public
from app.openapi import build_openapi

bp = public(Blueprint("docs", __name__))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document (built once per app: the routes do not change while it runs)."""
    document = current_app.extensions.get("tatame.openapi")
    if document is None:
        document = current_app.extensions["tatame.openapi"] = build_openapi(current_app)
    return document
