from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings() -> None:
    out = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)

    schema = out.getvalue()
    assert '"ApiKeyAuth"' in schema
    assert '"/api/v1/crm/customers/"' in schema
