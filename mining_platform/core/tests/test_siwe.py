"""Sign-In with Ethereum: real keys sign real EIP-4361 messages, sent through the real endpoints."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from playwright.sync_api import BrowserContext
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from mining_platform.core.choices import Role
from mining_platform.core.models import SiweNonce, User, Wallet
from mining_platform.core.services.siwe import (
    SiweMessage,  # re-exported by the service, which imports siwe without its grammar warnings
    siwe_login,
    siwe_nonce_issue,
    siwe_nonces_purge,
)
from mining_platform.core.siwe_errors import (
    SiweAccountInactiveError,
    SiweMessageExpiredError,
    SiweMessageNotYetValidError,
)
from mining_platform.core.tests.factories import UserFactory
from tests.browser import chromium

NONCE_URL = "/auth/siwe/nonce/"
VERIFY_URL = "/auth/siwe/verify/"
BASE_MAINNET = 8453
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(
    *,
    account: LocalAccount,
    nonce: str,
    issued_at: datetime,
    domain: str = "testserver",
    chain_id: int = BASE_MAINNET,
    expiration_time: datetime | None = None,
    not_before: datetime | None = None,
) -> str:
    text: str = SiweMessage(
        domain=domain,
        address=account.address,
        statement="Sign in to Mining Operations Platform",
        uri=f"http://{domain}",
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=_iso(issued_at),
        expiration_time=None if expiration_time is None else _iso(expiration_time),
        not_before=None if not_before is None else _iso(not_before),
    ).prepare_message()
    return text


def _sign(account: LocalAccount, text: str) -> str:
    signature: str = account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    return signature


@dataclass(frozen=True)
class Counts:
    users: int
    wallets: int

    @classmethod
    def now(cls) -> "Counts":
        return cls(users=User.objects.count(), wallets=Wallet.objects.count())


@pytest.fixture
def account() -> LocalAccount:
    acct: LocalAccount = Account.create()
    return acct


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def browser(db: None, clock: TimeMachineFixture) -> APIClient:
    return APIClient()


def _nonce(browser: APIClient) -> str:
    nonce: str = browser.get(NONCE_URL).json()["nonce"]
    return nonce


def _signed(
    browser: APIClient,
    account: LocalAccount,
    *,
    domain: str = "testserver",
    chain_id: int = BASE_MAINNET,
    expiration_time: datetime | None = None,
) -> dict[str, str]:
    """A fresh nonce from the endpoint, in a message signed now by `account`."""
    text = _message(
        account=account,
        nonce=_nonce(browser),
        issued_at=timezone.now(),
        domain=domain,
        chain_id=chain_id,
        expiration_time=expiration_time,
    )
    return {"message": text, "signature": _sign(account, text)}


class _JsonResponse(Protocol):
    def json(self) -> Any: ...  # as the test clients declare it


def _error(response: _JsonResponse) -> dict[str, object]:
    error: dict[str, object] = response.json()["error"]
    return error


# --- Nonces


def test_siwe_nonce_endpoint_issues_a_long_random_nonce_that_expires_after_the_ttl(browser: APIClient) -> None:
    response = browser.get(NONCE_URL)

    body = response.json()
    assert response.status_code == 200
    assert re.fullmatch(r"[A-Za-z0-9]{16,}", body["nonce"])
    stored = SiweNonce.objects.get(nonce=body["nonce"])
    assert stored.expires_at == START + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS)
    assert datetime.fromisoformat(body["expires_at"]) == stored.expires_at
    assert stored.used_at is None
    assert "no-store" in response.headers["Cache-Control"]
    assert "csrftoken" in response.cookies


def test_siwe_nonce_issue_never_repeats_a_nonce(db: None) -> None:
    nonces = {siwe_nonce_issue(now=START).nonce for _ in range(50)}

    assert len(nonces) == 50


# --- Signing in


def test_siwe_verify_creates_a_client_for_a_new_wallet_and_signs_in(browser: APIClient, account: LocalAccount) -> None:
    payload = _signed(browser, account)

    response = browser.post(VERIFY_URL, payload, format="json")

    assert response.status_code == 200, response.content
    user = User.objects.get(wallets__address=account.address)
    assert response.json() == {
        "user_id": user.pk,
        "address": account.address,
        "created": True,
        "linked": False,
        "redirect": reverse("core:home"),
    }
    assert (user.role, user.email, user.has_usable_password()) == (Role.CLIENT, None, False)
    wallet = user.wallets.get()
    assert (wallet.chain_id, wallet.last_login_at) == (BASE_MAINNET, START)
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert SiweNonce.objects.filter(used_at=START).count() == 1


def test_siwe_verify_gives_each_new_wallet_its_own_user(browser: APIClient, account: LocalAccount) -> None:
    browser.post(VERIFY_URL, _signed(browser, account), format="json")
    other = Account.create()

    response = APIClient().post(VERIFY_URL, _signed(browser, other), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["created"] is True
    assert User.objects.filter(email=None).count() == 2


def test_siwe_verify_signs_a_known_wallet_into_its_user(
    browser: APIClient, account: LocalAccount, host_user: User
) -> None:
    Wallet.objects.create(user=host_user, address=account.address, chain_id=BASE_MAINNET)
    before = Counts.now()

    response = browser.post(VERIFY_URL, _signed(browser, account), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user_id"] == host_user.pk
    assert response.json()["created"] is False
    assert browser.session["_auth_user_id"] == str(host_user.pk)
    assert Counts.now() == before
    assert Wallet.objects.get(address=account.address).last_login_at == START


def test_siwe_verify_links_a_new_wallet_to_the_signed_in_user(
    browser: APIClient, account: LocalAccount, host_user: User
) -> None:
    browser.force_login(host_user)
    users_before = User.objects.count()

    response = browser.post(VERIFY_URL, _signed(browser, account), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["user_id"], body["created"], body["linked"]) == (host_user.pk, False, True)
    assert body["redirect"] == reverse("core:account")
    assert Wallet.objects.get(address=account.address).user == host_user
    assert User.objects.count() == users_before
    assert browser.session["_auth_user_id"] == str(host_user.pk)


def test_siwe_verify_requires_the_csrf_token_even_for_anonymous_visitors(db: None, account: LocalAccount) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    payload = _signed(browser, account)

    refused = browser.post(VERIFY_URL, payload, format="json")
    accepted = browser.post(
        VERIFY_URL, payload, format="json", HTTP_X_CSRFTOKEN=browser.cookies[settings.CSRF_COOKIE_NAME].value
    )

    assert refused.status_code == 403
    assert "CSRF" in str(_error(refused)["message"])
    assert accepted.status_code == 200, accepted.content


# --- Refusals: each names what is wrong and writes nothing but, where the signature is genuine, the nonce


def test_siwe_verify_refuses_a_wallet_linked_to_another_user(
    browser: APIClient, account: LocalAccount, host_user: User
) -> None:
    owner = UserFactory.create(role=Role.CLIENT)
    Wallet.objects.create(user=owner, address=account.address, chain_id=BASE_MAINNET)
    browser.force_login(host_user)
    before = Counts.now()

    response = browser.post(VERIFY_URL, _signed(browser, account), format="json")

    assert response.status_code == 409
    assert _error(response)["code"] == "siwe_wallet_linked_elsewhere"
    assert "linked to another account" in str(_error(response)["message"])
    assert Counts.now() == before
    assert Wallet.objects.get(address=account.address).user == owner
    assert browser.session["_auth_user_id"] == str(host_user.pk)


def test_siwe_verify_refuses_a_replayed_nonce(browser: APIClient, account: LocalAccount) -> None:
    payload = _signed(browser, account)
    browser.post(VERIFY_URL, payload, format="json")
    before = Counts.now()

    response = APIClient().post(VERIFY_URL, payload, format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_nonce_used"
    assert "already been used" in str(_error(response)["message"])
    assert Counts.now() == before


def test_siwe_verify_refuses_an_expired_message(
    browser: APIClient, account: LocalAccount, clock: TimeMachineFixture
) -> None:
    payload = _signed(browser, account, expiration_time=START + timedelta(seconds=60))
    clock.shift(timedelta(seconds=90))

    response = browser.post(VERIFY_URL, payload, format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_message_expired"
    assert _error(response)["message"] == (
        "The signed message has expired: its Expiration Time 2026-03-02T09:01:00+00:00 has passed."
    )
    assert Counts.now() == Counts(users=0, wallets=0)
    assert SiweNonce.objects.get().used_at is not None  # a genuine signature was judged: no second try


def test_siwe_verify_refuses_an_expired_nonce(
    browser: APIClient, account: LocalAccount, clock: TimeMachineFixture
) -> None:
    payload = _signed(browser, account)
    clock.shift(timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS))

    response = browser.post(VERIFY_URL, payload, format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_nonce_expired"
    assert "request a new one" in str(_error(response)["message"])
    assert Counts.now() == Counts(users=0, wallets=0)


def test_siwe_verify_refuses_a_message_for_another_domain(browser: APIClient, account: LocalAccount) -> None:
    response = browser.post(VERIFY_URL, _signed(browser, account, domain="evil.example"), format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_domain_mismatch"
    assert _error(response)["message"] == "Message domain evil.example does not match this site (testserver)."
    assert Counts.now() == Counts(users=0, wallets=0)
    assert "_auth_user_id" not in browser.session


def test_siwe_verify_refuses_a_chain_not_in_the_allowed_list(browser: APIClient, account: LocalAccount) -> None:
    response = browser.post(VERIFY_URL, _signed(browser, account, chain_id=1), format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_chain_not_allowed"
    assert _error(response)["message"] == (
        "Chain ID 1 is not accepted here; switch your wallet to one of: 8453, 84532."
    )
    assert Counts.now() == Counts(users=0, wallets=0)


def test_siwe_verify_refuses_a_signature_by_another_key_and_keeps_the_nonce(
    browser: APIClient, account: LocalAccount
) -> None:
    text = _message(account=account, nonce=_nonce(browser), issued_at=START)

    response = browser.post(VERIFY_URL, {"message": text, "signature": _sign(Account.create(), text)}, format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_signature_invalid"
    assert _error(response)["message"] == (
        f"The signature was not made by {account.address} over this message: it was signed by another key."
    )
    assert Counts.now() == Counts(users=0, wallets=0)
    # Anyone can fetch a nonce and post garbage; that must not burn the real sign-in.
    assert SiweNonce.objects.get().used_at is None


def test_siwe_verify_refuses_a_nonce_this_site_never_issued(browser: APIClient, account: LocalAccount) -> None:
    text = _message(account=account, nonce="NeverIssuedByUs0123456789", issued_at=START)

    response = browser.post(VERIFY_URL, {"message": text, "signature": _sign(account, text)}, format="json")

    assert response.status_code == 401
    assert _error(response)["code"] == "siwe_nonce_unknown"
    assert "did not issue" in str(_error(response)["message"])
    assert Counts.now() == Counts(users=0, wallets=0)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.replace("Version: 1", "Version: 2"), "the 'Version' value '2' is not valid; it must be 1."),
        (lambda m: m.replace("\nChain ID: 8453", ""), "the 'Chain ID: ' line is missing."),
        (lambda m: re.sub(r"Nonce: \w+", "Nonce: abc", m), "the 'Nonce' value 'abc' is not valid"),
        (lambda m: re.sub(r"\n0x[0-9a-fA-F]{40}", lambda a: a.group(0).lower(), m), "must be in EIP-55 format"),
        (lambda m: "Hello, please sign in.", "the first line must read '<domain> wants you to sign in"),
    ],
    ids=["version", "missing-chain-id", "short-nonce", "address-not-checksummed", "not-eip4361"],
)
def test_siwe_verify_names_what_is_wrong_with_a_malformed_message(
    browser: APIClient, account: LocalAccount, change: Callable[[str], str], named: str
) -> None:
    text = change(_message(account=account, nonce=_nonce(browser), issued_at=START))

    response = browser.post(VERIFY_URL, {"message": text, "signature": _sign(account, text)}, format="json")

    assert response.status_code == 400
    assert _error(response)["code"] == "siwe_message_malformed"
    assert named in str(_error(response)["message"])
    assert Counts.now() == Counts(users=0, wallets=0)
    assert SiweNonce.objects.get().used_at is None


# --- The service's own time rules, with `now` passed in


@pytest.fixture
def live_nonce(db: None) -> SiweNonce:
    return siwe_nonce_issue(now=START)


def test_siwe_login_refuses_a_message_issued_longer_ago_than_the_nonce_ttl(
    live_nonce: SiweNonce, account: LocalAccount
) -> None:
    issued_at = START - timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS + 1)
    text = _message(account=account, nonce=live_nonce.nonce, issued_at=issued_at)

    with pytest.raises(SiweMessageExpiredError) as excinfo:
        siwe_login(
            message=text, signature=_sign(account, text), expected_domain="testserver", current_user=None, now=START
        )

    assert excinfo.value.code == "siwe_message_expired"
    assert "seconds ago" in excinfo.value.message
    assert Counts.now() == Counts(users=0, wallets=0)


def test_siwe_login_refuses_a_message_before_its_not_before_time(live_nonce: SiweNonce, account: LocalAccount) -> None:
    text = _message(account=account, nonce=live_nonce.nonce, issued_at=START, not_before=START + timedelta(minutes=1))

    with pytest.raises(SiweMessageNotYetValidError) as excinfo:
        siwe_login(
            message=text, signature=_sign(account, text), expected_domain="testserver", current_user=None, now=START
        )

    assert excinfo.value.code == "siwe_message_not_yet_valid"
    assert Counts.now() == Counts(users=0, wallets=0)


def test_siwe_login_refuses_a_wallet_whose_user_is_deactivated(live_nonce: SiweNonce, account: LocalAccount) -> None:
    owner = UserFactory.create(role=Role.CLIENT, is_active=False)
    Wallet.objects.create(user=owner, address=account.address, chain_id=BASE_MAINNET)
    text = _message(account=account, nonce=live_nonce.nonce, issued_at=START)

    with pytest.raises(SiweAccountInactiveError) as excinfo:
        siwe_login(
            message=text, signature=_sign(account, text), expected_domain="testserver", current_user=None, now=START
        )

    assert excinfo.value.code == "siwe_account_inactive"
    assert Wallet.objects.get(address=account.address).last_login_at is None


# --- The page script, in a real browser with a stand-in wallet that signs with a real key

WALLET_STUB = """
window.ethereum = {
  request: async ({ method, params }) => {
    if (method === "eth_requestAccounts") return [ADDRESS];
    if (method === "eth_chainId") return "0x2105";
    if (method === "personal_sign") return await window.signWithTestKey(params[0]);
    throw { code: 4200, message: "unsupported: " + method };
  },
};
"""


@pytest.fixture
def chromium_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserContext]:
    # Playwright's sync API keeps an asyncio loop on this thread, which makes Django refuse ORM
    # calls here; the test's own queries are plain synchronous ones, so allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser.new_context()


@pytest.mark.browser
def test_siwe_script_links_a_wallet_from_the_account_page(
    live_server: LiveServer, chromium_context: BrowserContext, host_user: User, account: LocalAccount
) -> None:
    session = Client()
    session.force_login(host_user)
    chromium_context.add_cookies(
        [{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_server.url}]
    )
    # Wallets hand out lower-case addresses: the script must checksum it (EIP-55) itself.
    chromium_context.add_init_script(WALLET_STUB.replace("ADDRESS", repr(account.address.lower())))
    chromium_context.expose_function(
        "signWithTestKey", lambda hex_text: account.sign_message(encode_defunct(hexstr=hex_text)).signature.to_0x_hex()
    )
    page = chromium_context.new_page()
    page.goto(live_server.url + reverse("core:account"))

    page.click("[data-siwe-button]")
    page.wait_for_selector(f"text={account.address}")

    assert Wallet.objects.get(address=account.address).user == host_user
    assert page.url == live_server.url + reverse("core:account")


@pytest.mark.django_db
def test_siwe_nonces_purge_deletes_only_long_expired_nonces() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    old = SiweNonce.objects.create(
        nonce="old" * 6, created_at=now - timedelta(days=3), expires_at=now - timedelta(days=2)
    )
    recent = SiweNonce.objects.create(nonce="new" * 6, created_at=now, expires_at=now - timedelta(hours=1))

    deleted = siwe_nonces_purge(now=now)

    assert deleted == 1
    assert list(SiweNonce.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not SiweNonce.objects.filter(pk=old.pk).exists()
