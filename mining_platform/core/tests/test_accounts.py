"""E-mail sign-up with mandatory verification, password reset and login throttling (django-allauth)."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client, override_settings

from mining_platform.core.choices import Role
from mining_platform.core.models import User
from mining_platform.core.tests.factories import TEST_PASSWORD, UserFactory

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"


def _link_in_last_mail() -> str:
    match = re.search(r"https?://testserver(/accounts/\S+)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group(1)


@pytest.mark.django_db
def test_sign_up_with_mismatched_passwords_names_the_field_and_creates_nothing() -> None:
    response = Client().post(SIGNUP, {"email": "new@farm.example", "password1": TEST_PASSWORD, "password2": "other"})

    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not User.objects.filter(email="new@farm.example").exists()


@pytest.mark.django_db
def test_sign_up_creates_a_client_who_must_verify_the_email_before_signing_in() -> None:
    browser = Client()

    response = browser.post(
        SIGNUP, {"email": "new@farm.example", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD}
    )

    user = User.objects.get(email="new@farm.example")
    assert user.role == Role.CLIENT
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in browser.session
    assert mail.outbox[-1].to == ["new@farm.example"]
    refused = Client().post(LOGIN, {"login": "new@farm.example", "password": TEST_PASSWORD})
    assert refused.headers["Location"] == "/accounts/confirm-email/"


@pytest.mark.django_db
def test_following_the_verification_link_verifies_and_signs_in() -> None:
    browser = Client()
    browser.post(SIGNUP, {"email": "new@farm.example", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD})

    browser.post(_link_in_last_mail())

    user = User.objects.get(email="new@farm.example")
    assert EmailAddress.objects.get(user=user).verified is True
    assert Client().login(email="new@farm.example", password=TEST_PASSWORD)


@pytest.mark.django_db
def test_sign_up_with_a_taken_email_reveals_nothing_and_creates_nothing(host_user: User) -> None:
    response = Client().post(SIGNUP, {"email": host_user.email, "password1": TEST_PASSWORD, "password2": TEST_PASSWORD})

    # Same answer as a fresh sign-up, so the form cannot be used to find out who has an account;
    # the owner of the address is told by e-mail instead.
    assert response.headers["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email__iexact=host_user.email).count() == 1
    assert mail.outbox[-1].to == [host_user.email]


@pytest.mark.django_db
def test_password_reset_mails_a_link_that_sets_a_new_password(host_user: User) -> None:
    browser = Client()
    browser.post("/accounts/password/reset/", {"email": host_user.email})

    form_url = browser.get(_link_in_last_mail()).headers["Location"]
    browser.post(form_url, {"password1": "a-brand-new-pass-42", "password2": "a-brand-new-pass-42"})

    assert Client().login(email=host_user.email, password="a-brand-new-pass-42")


@pytest.mark.django_db
def test_repeated_failed_logins_are_throttled() -> None:
    user = UserFactory.create(email="target@farm.example")
    rates = {"login": "100/m/ip", "login_failed": "100/m/ip,3/5m/key"}

    with override_settings(ACCOUNT_RATE_LIMITS=rates):
        for _ in range(3):
            Client().post(LOGIN, {"login": user.email, "password": "wrong-password"})
        blocked = Client().post(LOGIN, {"login": user.email, "password": TEST_PASSWORD})

    assert blocked.status_code in (200, 429)
    assert "_auth_user_id" not in blocked.client.session
    assert b"Too many failed login attempts" in blocked.content
