from django.apps import AppConfig


class ChainConfig(AppConfig):
    """The outbox of cross-app events, and anchoring data on Base L2 and IPFS."""

    name = "chain"
    verbose_name = "Events and anchoring"
