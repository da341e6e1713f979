"""Application errors: each carries a stable code and the HTTP status it maps to (STYLE.md section 7)."""

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """A business rule said no. Subclasses set `code` and `http_status`."""

    code = "domain_error"
    http_status = 400
    default_message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}
        super().__init__(self.message)


class InvalidInputError(DomainError):
    code = "invalid_input"
    http_status = 400
    default_message = "The input is not valid."


class AuthenticationFailedError(DomainError):
    code = "authentication_failed"
    http_status = 401
    default_message = "Authentication failed."


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    http_status = 403
    default_message = "You do not have permission to do this."


class NotFoundError(DomainError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class ConflictError(DomainError):
    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."


class UpstreamUnavailableError(DomainError):
    """A miner, exchange, RPC node or other outside service failed; retrying may help."""

    code = "upstream_unavailable"
    http_status = 503
    default_message = "An upstream service is unavailable."
    retry_after_s = 30
