"""Live scopes: what a dashboard asks to watch (a site, a client, a miner) and whether its user may.

The permission check reloads the user from the database every time, so a user deactivated or moved to
another role since the socket opened loses access at the next subscribe.
"""

from dataclasses import dataclass

from crm.models import Customer
from hosting.models import Miner, Site
from mining_platform.core.choices import OPERATOR_ROLES, Role
from mining_platform.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from mining_platform.core.models import User

SCOPE_SITE = "site"
SCOPE_CLIENT = "client"
SCOPE_MINER = "miner"
SCOPE_KINDS = (SCOPE_SITE, SCOPE_CLIENT, SCOPE_MINER)


class LiveBadRequestError(InvalidInputError):
    code = "bad_request"
    default_message = "The request is not valid."


class LiveForbiddenError(PermissionDeniedError):
    code = "forbidden"
    default_message = "You may not watch this."


class LiveNotFoundError(NotFoundError):
    code = "not_found"
    default_message = "Nothing to watch here."


@dataclass(frozen=True)
class LiveScope:
    """One thing a page watches, with the stream (`source`) its updates come from.

    Sites and clients have a stream of their own; a miner reads its site's stream (operators) or its
    customer's (clients) and keeps only its own row, so a client's socket never joins a site's stream.
    """

    kind: str
    id: int
    source: str
    site_id: int | None = None
    customer_id: int | None = None

    @property
    def key(self) -> str:
        return live_key(kind=self.kind, scope_id=self.id)


def live_key(*, kind: str, scope_id: int) -> str:
    """The key frames name a scope by: "site:3", "client:7", "miner:42"."""
    return f"{kind}:{scope_id}"


def live_group(*, source: str) -> str:
    """The channel-layer group of one stream (group names allow no colon)."""
    return "hosting.live." + source.replace(":", ".")


def live_scope_parse(*, kind: object, scope_id: object) -> tuple[str, int | None]:
    """Check the shape of a requested scope: a known kind and an integer id (null only for a client)."""
    if kind not in SCOPE_KINDS or not isinstance(kind, str):
        raise LiveBadRequestError(f"scope must be one of {', '.join(SCOPE_KINDS)}.")
    if isinstance(scope_id, str) and scope_id.strip().isdigit():
        scope_id = int(scope_id)
    elif isinstance(scope_id, str) and scope_id.strip() in ("", "null"):
        scope_id = None
    if scope_id is None and kind == SCOPE_CLIENT:
        return kind, None
    if not isinstance(scope_id, int) or isinstance(scope_id, bool) or scope_id < 1:
        raise LiveBadRequestError("id must be a positive integer.")
    return kind, scope_id


def live_scope_authorize(*, user_id: int, kind: str, scope_id: int | None) -> LiveScope:
    """The scope `user_id` may watch, checked against the user as stored now.

    Operators watch any site, client or miner; a client only their own customer and its miners. A miner
    the caller may not see answers not_found, so its existence never leaks.
    """
    user = User.objects.filter(pk=user_id).values("is_active", "role", "customer_id").first()
    if user is None or not user["is_active"]:
        raise LiveForbiddenError("This account is not active.")
    role, own_customer = user["role"], user["customer_id"]
    if role in OPERATOR_ROLES:
        return _operator_scope(kind=kind, scope_id=scope_id)
    if role != Role.CLIENT or own_customer is None:
        raise LiveForbiddenError("This account may not watch live data.")
    if kind == SCOPE_SITE:
        raise LiveForbiddenError("Clients watch their own miners, not whole sites.")
    if kind == SCOPE_CLIENT:
        if scope_id is not None and scope_id != own_customer:
            raise LiveForbiddenError("Clients watch their own account only.")
        return LiveScope(
            kind=SCOPE_CLIENT, id=own_customer, source=_client_source(own_customer), customer_id=own_customer
        )
    if scope_id is None:
        raise LiveBadRequestError("id must be a positive integer.")
    miner = Miner.objects.filter(pk=scope_id, customer_id=own_customer).values("site_id").first()
    if miner is None:
        raise LiveNotFoundError(f"Miner {scope_id} not found.")
    return LiveScope(
        kind=SCOPE_MINER,
        id=scope_id,
        source=_client_source(own_customer),
        site_id=miner["site_id"],
        customer_id=own_customer,
    )


def _site_source(site_id: int) -> str:
    return live_key(kind=SCOPE_SITE, scope_id=site_id)


def _client_source(customer_id: int) -> str:
    return live_key(kind=SCOPE_CLIENT, scope_id=customer_id)


def _operator_scope(*, kind: str, scope_id: int | None) -> LiveScope:
    if scope_id is None:
        raise LiveBadRequestError("Name the customer to watch: id must be a positive integer.")
    if kind == SCOPE_SITE:
        if not Site.objects.filter(pk=scope_id).exists():
            raise LiveNotFoundError(f"Site {scope_id} not found.")
        return LiveScope(kind=SCOPE_SITE, id=scope_id, source=_site_source(scope_id), site_id=scope_id)
    if kind == SCOPE_CLIENT:
        if not Customer.objects.filter(pk=scope_id).exists():
            raise LiveNotFoundError(f"Customer {scope_id} not found.")
        return LiveScope(kind=SCOPE_CLIENT, id=scope_id, source=_client_source(scope_id), customer_id=scope_id)
    miner = Miner.objects.filter(pk=scope_id).values("site_id", "customer_id").first()
    if miner is None:
        raise LiveNotFoundError(f"Miner {scope_id} not found.")
    return LiveScope(
        kind=SCOPE_MINER,
        id=scope_id,
        source=_site_source(miner["site_id"]),
        site_id=miner["site_id"],
        customer_id=miner["customer_id"],
    )
