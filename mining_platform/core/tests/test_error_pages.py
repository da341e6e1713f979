import pytest
from django.test import Client

from mining_platform.core.models import User


@pytest.mark.django_db
def test_a_page_outside_the_users_role_explains_the_refusal_in_the_site_layout(client_user: User) -> None:
    browser = Client()
    browser.force_login(client_user)

    response = browser.get("/crm/customers/")

    assert response.status_code == 403
    assert "You may not open this page" in response.text
    assert "Mining Operations Platform" in response.text


@pytest.mark.django_db
def test_an_unknown_address_gets_the_styled_not_found_page() -> None:
    response = Client().get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.text
