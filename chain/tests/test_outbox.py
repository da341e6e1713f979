from decimal import Decimal

import pytest
from django.db import transaction

from chain.errors import OutboxOutsideTransactionError
from chain.models import OutboxEvent
from chain.services.outbox import outbox_publish
from mining_platform.core.errors import InvalidInputError


class _ChangeFailedError(Exception):
    pass


def _publish(**overrides: object) -> OutboxEvent:
    fields: dict[str, object] = {
        "event_type": "invoice.issued",
        "aggregate_type": "invoice",
        "aggregate_id": 42,
        "payload": {"invoice_id": 42, "total_usd": Decimal("1250.50")},
    }
    fields.update(overrides)
    return outbox_publish(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_outbox_publish_commits_with_the_callers_transaction() -> None:
    with transaction.atomic():
        _publish()

    event = OutboxEvent.objects.get()
    assert (event.event_type, event.aggregate_type, event.aggregate_id) == ("invoice.issued", "invoice", "42")
    assert event.payload == {"invoice_id": 42, "total_usd": "1250.50"}
    assert event.processed_at is None
    assert event.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_outbox_publish_is_rolled_back_with_the_callers_transaction() -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            _publish()
            raise _ChangeFailedError

    with pytest.raises(_ChangeFailedError):
        change_that_fails()

    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outbox_publish_refuses_to_run_outside_a_transaction() -> None:
    with pytest.raises(OutboxOutsideTransactionError) as excinfo:
        _publish()

    assert excinfo.value.code == "outbox_outside_transaction"
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"event_type": "invoiceissued"}, "event_type"), ({"payload": {"when": object()}}, "payload")],
)
def test_outbox_publish_rejects_bad_events_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        _publish(**overrides)

    assert field in excinfo.value.fields
    assert not OutboxEvent.objects.exists()
