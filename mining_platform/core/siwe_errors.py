"""Why a Sign-In with Ethereum (EIP-4361) attempt was refused: one class and stable code per reason.

Verification failures answer 401 like any failed sign-in; a message we cannot read answers 400, and a
wallet that already belongs to someone else answers 409.
"""

from datetime import datetime

from .errors import AuthenticationFailedError, ConflictError, InvalidInputError


class SiweMessageMalformedError(InvalidInputError):
    code = "siwe_message_malformed"
    default_message = "The message is not a valid Sign-In with Ethereum (EIP-4361) message."

    def __init__(self, *, problem: str) -> None:
        super().__init__(f"The sign-in message is not valid EIP-4361: {problem}", fields={"message": [problem]})


class SiweSignatureInvalidError(AuthenticationFailedError):
    code = "siwe_signature_invalid"
    default_message = "The signature does not match the message."

    def __init__(self, *, address: str, problem: str) -> None:
        super().__init__(
            f"The signature was not made by {address} over this message: {problem}",
            fields={"signature": [problem]},
        )


class SiweNonceUnknownError(AuthenticationFailedError):
    code = "siwe_nonce_unknown"
    default_message = "This site did not issue the message's nonce."

    def __init__(self) -> None:
        super().__init__("This site did not issue the message's nonce; request a new one and sign again.")


class SiweNonceUsedError(AuthenticationFailedError):
    code = "siwe_nonce_used"
    default_message = "The message's nonce has already been used."

    def __init__(self) -> None:
        super().__init__("The message's nonce has already been used; each signed message signs in once.")


class SiweNonceExpiredError(AuthenticationFailedError):
    code = "siwe_nonce_expired"
    default_message = "The message's nonce has expired."

    def __init__(self, *, expired_at: datetime) -> None:
        super().__init__(f"The message's nonce expired at {expired_at.isoformat()}; request a new one and sign again.")


class SiweMessageExpiredError(AuthenticationFailedError):
    code = "siwe_message_expired"
    default_message = "The signed message has expired."

    def __init__(self, *, reason: str) -> None:
        super().__init__(f"The signed message has expired: {reason}.")


class SiweMessageNotYetValidError(AuthenticationFailedError):
    code = "siwe_message_not_yet_valid"
    default_message = "The signed message is not valid yet."

    def __init__(self, *, not_before: str) -> None:
        super().__init__(f"The signed message is not valid before {not_before}.")


class SiweDomainMismatchError(AuthenticationFailedError):
    code = "siwe_domain_mismatch"
    default_message = "The message was signed for another site."

    def __init__(self, *, domain: str, expected: str) -> None:
        super().__init__(f"Message domain {domain} does not match this site ({expected}).")


class SiweChainNotAllowedError(AuthenticationFailedError):
    code = "siwe_chain_not_allowed"
    default_message = "The message names a chain this site does not accept."

    def __init__(self, *, chain_id: int, allowed: list[int]) -> None:
        accepted = ", ".join(str(c) for c in allowed)
        super().__init__(f"Chain ID {chain_id} is not accepted here; switch your wallet to one of: {accepted}.")


class SiweAccountInactiveError(AuthenticationFailedError):
    code = "siwe_account_inactive"
    default_message = "The account linked to this wallet is deactivated."

    def __init__(self, *, address: str) -> None:
        super().__init__(f"The account linked to wallet {address} is deactivated.")


class SiweWalletLinkedElsewhereError(ConflictError):
    code = "siwe_wallet_linked_elsewhere"
    default_message = "This wallet is linked to another account."

    def __init__(self, *, address: str) -> None:
        super().__init__(
            f"Wallet {address} is linked to another account; sign out and sign in with it, or use another wallet."
        )
