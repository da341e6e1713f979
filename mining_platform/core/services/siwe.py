"""Sign-In with Ethereum (EIP-4361): issue nonces, verify signed messages, sign in or link wallets."""

import logging
import re
import secrets
import string
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import pydantic
from abnf.parser import GrammarWarning, ParseError
from django.conf import settings
from django.db import transaction
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError as EthValidationError

from mining_platform.core.choices import Role
from mining_platform.core.errors import DomainError
from mining_platform.core.models import SiweNonce, User, Wallet
from mining_platform.core.siwe_errors import (
    SiweAccountInactiveError,
    SiweChainNotAllowedError,
    SiweDomainMismatchError,
    SiweMessageExpiredError,
    SiweMessageMalformedError,
    SiweMessageNotYetValidError,
    SiweNonceExpiredError,
    SiweNonceUnknownError,
    SiweNonceUsedError,
    SiweSignatureInvalidError,
    SiweWalletLinkedElsewhereError,
)

logger = logging.getLogger(__name__)

with warnings.catch_warnings():
    # abnf warns that siwe's grammar redefines the RFC 5234 core rules (with identical definitions)
    # on every process start; siwe's own tests cover that grammar, so the warning is noise here.
    warnings.simplefilter("ignore", GrammarWarning)
    import siwe
    from siwe.grammars import eip4361

SiweMessage = siwe.SiweMessage
_eip4361_rule = eip4361.Rule

# EIP-4361 asks for at least 8 alphanumerics; 32 give about 190 bits, so guessing one is hopeless.
NONCE_LENGTH = 32
_NONCE_ALPHABET = string.ascii_letters + string.digits
_SIGNATURE_RE = re.compile(r"0x[0-9a-fA-F]{130}")  # r, s, v: 65 bytes as personal_sign returns them
_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"

# Field lines of an EIP-4361 message: label, grammar rule of the value, what a valid value looks like.
_FIELDS = (
    ("URI", "uri", "an absolute URI such as https://example.com", True),
    ("Version", "version", "1", True),
    ("Chain ID", "chain-id", "a decimal chain id such as 8453", True),
    ("Nonce", "nonce", "at least 8 letters or digits", True),
    ("Issued At", "issued-at", "an RFC 3339 time such as 2025-01-31T12:00:00.000Z", True),
    ("Expiration Time", "expiration-time", "an RFC 3339 time such as 2025-01-31T12:05:00.000Z", False),
    ("Not Before", "not-before", "an RFC 3339 time such as 2025-01-31T12:00:00.000Z", False),
)


@dataclass(frozen=True)
class SiweLoginResult:
    user: User
    wallet: Wallet
    created_user: bool
    linked: bool


@dataclass(frozen=True)
class _SignedMessage:
    """The fields of a parsed EIP-4361 message that sign-in checks."""

    domain: str
    address: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None


def siwe_nonce_issue(*, now: datetime) -> SiweNonce:
    """Issue a single-use nonce for one sign-in attempt; it expires after SIWE_NONCE_TTL_SECONDS."""
    nonce = SiweNonce(
        nonce="".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH)),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS),
    )
    nonce.full_clean()
    nonce.save()
    return nonce


def siwe_login(
    *, message: str, signature: str, expected_domain: str, current_user: User | None, now: datetime
) -> SiweLoginResult:
    """Verify a signed EIP-4361 message and resolve its wallet to a user, creating or linking as needed.

    A known wallet signs in its user; an unknown one is linked to `current_user` when someone is signed
    in, otherwise it gets a new client user. Refusals raise a SIWE error from siwe_errors.
    """
    signed = _siwe_message_parse(message=message)
    _siwe_signature_check(message=message, signature=signature, address=signed.address)

    with transaction.atomic(durable=True):
        _siwe_nonce_consume(nonce=signed.nonce, now=now)
        # From here on the nonce stays used even when the message is refused: the signature is
        # genuine, so this exact message has been presented and judged, and the verdict must not
        # change later (once Not Before passes, or SIWE_CHAIN_IDS or SIWE_DOMAIN change). A bad
        # signature (checked above) or a dead nonce consumes nothing: anyone can fetch nonces
        # and post garbage, and must not be able to burn other people's attempts that way.
        # So the refusals below are returned rather than raised, to let the transaction commit
        # the consumed nonce; they write nothing else.
        refusal = _siwe_message_refusal(signed=signed, expected_domain=expected_domain, now=now)
        outcome = (
            refusal if refusal is not None else _siwe_account_resolve(signed=signed, current_user=current_user, now=now)
        )
    if isinstance(outcome, DomainError):
        logger.info("SIWE sign-in refused: code=%s address=%s", outcome.code, signed.address)
        raise outcome
    result = outcome
    logger.info(
        "SIWE sign-in: user_id=%s wallet_id=%s created_user=%s linked=%s",
        result.user.pk,
        result.wallet.pk,
        result.created_user,
        result.linked,
    )
    return result


def _siwe_message_parse(*, message: str) -> _SignedMessage:
    try:
        parsed = SiweMessage.from_message(message)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SiweMessageMalformedError(problem=problems) from exc
    except ValueError as exc:
        raise SiweMessageMalformedError(problem=_siwe_message_problem(message=message)) from exc
    return _SignedMessage(
        domain=str(parsed.domain),
        address=str(parsed.address),
        chain_id=int(parsed.chain_id),
        nonce=str(parsed.nonce),
        issued_at=datetime.fromisoformat(str(parsed.issued_at)),
        expiration_time=None if parsed.expiration_time is None else datetime.fromisoformat(parsed.expiration_time),
        not_before=None if parsed.not_before is None else datetime.fromisoformat(parsed.not_before),
    )


def _siwe_message_problem(*, message: str) -> str:
    """Names the first thing wrong with a message the EIP-4361 grammar rejected.

    The grammar parser only says "no match at offset 0", which helps nobody fix a client, so this
    walks the layout line by line and checks each field value against its own grammar rule.
    """
    lines = message.split("\n")
    if not lines[0].endswith(_HEADER_SUFFIX) or lines[0] == _HEADER_SUFFIX:
        return f"the first line must read '<domain>{_HEADER_SUFFIX}'."
    if len(lines) < 2 or not re.fullmatch(r"0x[0-9a-fA-F]{40}", lines[1]):
        return "the second line must be the signing address: 0x followed by 40 hex digits."
    values: dict[str, str] = {}
    for line in lines[2:]:
        label, sep, value = line.partition(": ")
        if sep:
            values.setdefault(label, value)
    for label, rule, expected, required in _FIELDS:
        if label not in values:
            if required:
                return f"the '{label}: ' line is missing."
            continue
        try:
            _eip4361_rule(rule).parse_all(values[label])
        except ParseError:
            return f"the '{label}' value {values[label]!r} is not valid; it must be {expected}."
    return (
        "the lines are not in EIP-4361 order: header, address, blank line, optional statement and "
        "blank line, then URI, Version, Chain ID, Nonce, Issued At and the optional fields."
    )


def _siwe_signature_check(*, message: str, signature: str, address: str) -> None:
    """Plain ecrecover over the exact text received (EIP-191 personal_sign); no contract wallets."""
    if not _SIGNATURE_RE.fullmatch(signature):
        raise SiweSignatureInvalidError(address=address, problem="a signature is 0x followed by 130 hex digits.")
    try:
        signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    except (ValueError, BadSignature, EthValidationError) as exc:
        raise SiweSignatureInvalidError(address=address, problem="it is not a valid secp256k1 signature.") from exc
    if signer != address:
        raise SiweSignatureInvalidError(address=address, problem="it was signed by another key.")


def _siwe_nonce_consume(*, nonce: str, now: datetime) -> SiweNonce:
    """Marks an issued, live, unused nonce used. Runs in the caller's transaction.

    The row lock makes two concurrent posts of one nonce queue up: the second sees it used.
    """
    row = SiweNonce.objects.select_for_update().filter(nonce=nonce).first()
    if row is None:
        raise SiweNonceUnknownError()
    if row.used_at is not None:
        raise SiweNonceUsedError()
    if row.expires_at <= now:
        raise SiweNonceExpiredError(expired_at=row.expires_at)
    row.used_at = now
    row.save(update_fields=["used_at"])
    return row


def _siwe_message_refusal(*, signed: _SignedMessage, expected_domain: str, now: datetime) -> DomainError | None:
    """Why a validly signed message may not sign in here, or None."""
    if signed.domain != expected_domain:
        return SiweDomainMismatchError(domain=signed.domain, expected=expected_domain)
    allowed = list(settings.SIWE_CHAIN_IDS)
    if signed.chain_id not in allowed:
        return SiweChainNotAllowedError(chain_id=signed.chain_id, allowed=allowed)
    if signed.expiration_time is not None and now >= signed.expiration_time:
        return SiweMessageExpiredError(reason=f"its Expiration Time {signed.expiration_time.isoformat()} has passed")
    if signed.not_before is not None and now < signed.not_before:
        return SiweMessageNotYetValidError(not_before=signed.not_before.isoformat())
    ttl_s = settings.SIWE_NONCE_TTL_SECONDS
    if signed.issued_at < now - timedelta(seconds=ttl_s):
        return SiweMessageExpiredError(
            reason=f"it was issued at {signed.issued_at.isoformat()}, more than {ttl_s} seconds ago"
        )
    return None


def _siwe_account_resolve(
    *, signed: _SignedMessage, current_user: User | None, now: datetime
) -> SiweLoginResult | DomainError:
    """The user the wallet signs in, creating or linking it. Runs in the caller's transaction."""
    wallet = Wallet.objects.select_for_update().select_related("user").filter(address=signed.address).first()
    if wallet is not None:
        if current_user is not None and wallet.user_id != current_user.pk:
            return SiweWalletLinkedElsewhereError(address=signed.address)
        if not wallet.user.is_active:
            return SiweAccountInactiveError(address=signed.address)
        wallet.last_login_at = now
        wallet.save(update_fields=["last_login_at"])
        return SiweLoginResult(user=wallet.user, wallet=wallet, created_user=False, linked=False)

    created_user = current_user is None
    if current_user is None:
        # No full_clean() here: AbstractUser.clean() turns a missing e-mail into "", and the second
        # wallet-only user would then collide on the unique e-mail. The manager keeps it NULL, and
        # password=None makes the password unusable: this user proves who they are by signing.
        user = User.objects.create_user(email=None, password=None, role=Role.CLIENT)
    else:
        user = current_user
    wallet = Wallet(user=user, address=signed.address, chain_id=signed.chain_id, last_login_at=now)
    wallet.full_clean()
    wallet.save()
    return SiweLoginResult(user=user, wallet=wallet, created_user=created_user, linked=not created_user)


# Expired nonces are kept this long for the record of recent sign-in attempts, then deleted.
NONCE_KEEP = timedelta(days=1)


@transaction.atomic(durable=True)
def siwe_nonces_purge(*, now: datetime) -> int:
    """Delete nonces that expired more than NONCE_KEEP ago; safe to run at any time, any number of times."""
    deleted, _ = SiweNonce.objects.filter(expires_at__lt=now - NONCE_KEEP).delete()
    if deleted:
        logger.info("SIWE nonces purged: count=%d", deleted)
    return deleted
