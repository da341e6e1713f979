"""Errors of the chain app."""

from mining_platform.core.errors import DomainError


class OutboxOutsideTransactionError(DomainError):
    code = "outbox_outside_transaction"
    http_status = 500
    default_message = "outbox_publish must be called inside the transaction of the change it reports."
