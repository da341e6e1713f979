"""Clients see only their own customer account; operators see all (one rule, in core.access)."""

import pytest
from rest_framework.test import APIClient

from crm.models import Customer
from mining_platform.core.models import User
from mining_platform.core.tests.factories import UserFactory

LIST = "/api/v1/crm/customers/"


def _client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_client_lists_only_their_own_customer(client_user: User, customer: Customer, other_customer: Customer) -> None:
    response = _client_for(client_user).get(LIST)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [customer.pk]


@pytest.mark.django_db
def test_client_gets_404_for_another_customer(client_user: User, other_customer: Customer) -> None:
    response = _client_for(client_user).get(f"{LIST}{other_customer.pk}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_client_without_a_customer_sees_nothing(customer: Customer) -> None:
    orphan = UserFactory.create(role="client", customer=None)

    response = _client_for(orphan).get(LIST)

    assert response.json()["results"] == []


@pytest.mark.django_db
def test_operators_list_every_customer_in_a_bounded_number_of_queries(
    host_user: User, customer: Customer, other_customer: Customer, django_assert_max_num_queries: object
) -> None:
    api = _client_for(host_user)

    with django_assert_max_num_queries(6):  # type: ignore[operator]
        response = api.get(LIST)

    assert {row["name"] for row in response.json()["results"]} == {"Acme Hashing", "Other Hashing"}
