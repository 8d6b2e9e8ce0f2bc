"""Stripe's error answers: `{"error": {"type", "code", "param", "message"}}` with Stripe's statuses."""

from __future__ import annotations


class StripeFault(Exception):
    """An error answer the sandbox's Stripe sends back, exactly as Stripe would."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = {"type": type_, "message": message}
        if code:
            self.error["code"] = code
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.error["param"] = param

    def answer(self) -> tuple[int, dict]:
        """(status, body) as Stripe sends it."""
        return self.status, {"error": dict(self.error)}


def missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeFault:
    """An id Stripe does not know: 404 on a path id, 400 on a parameter such as `starting_after`."""
    return StripeFault(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def invalid(param: str, message: str) -> StripeFault:
    return StripeFault(400, message, code="parameter_invalid", param=param)


def unknown_parameter(param: str) -> StripeFault:
    return StripeFault(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def unrecognized(method: str, path: str) -> StripeFault:
    return StripeFault(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs"
                            " or we can help at https://support.stripe.com/.")


def idempotency_reused(key: str) -> StripeFault:
    return StripeFault(400, "Keys for idempotent requests can only be used with the same parameters they were first"
                            f" used with. Try using a key other than '{key}' if you meant to execute a different"
                            " request.", type_="idempotency_error")
