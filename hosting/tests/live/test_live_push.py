"""What reaches live sockets: a collection run's deltas, alerts, operations, and nothing after a rollback."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import override_settings
from django_redis import get_redis_connection
from psycopg.errors import UniqueViolation

from hosting.choices import AlertKind, AlertStatus, MinerAction, MinerStatus
from hosting.live.snapshots import live_seq_get, live_seq_key, live_summaries
from hosting.models import Alert, MinerLatest, MinerOperation, MinerTelemetry, Site
from hosting.services.alerts import alert_acknowledge, alerts_evaluate_site
from hosting.services.miner_control import REQUESTED, miner_command
from hosting.services.telemetry_collect import telemetry_collect
from mining_platform.core.models import User

from .conftest import FAST_POLLS, LiveSocket, SharedSite, live_headers

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ShareSite = Callable[..., SharedSite]


def _subscribe(scope: str, scope_id: object) -> dict[str, object]:
    return {"type": "subscribe", "scope": scope, "id": scope_id}


def _by_key(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {frame["key"]: frame for frame in frames}


@override_settings(**FAST_POLLS)
def test_a_collection_run_pushes_exactly_one_delta_per_site_and_per_customer(
    shared_site: ShareSite, host_user: User, client_user: User
) -> None:
    shared = shared_site()
    site_id, mine_key, theirs_key = shared.site.pk, f"client:{shared.customer.pk}", f"client:{shared.other_customer.pk}"
    host_headers, client_headers = live_headers(host_user), live_headers(client_user)

    async def scenario() -> dict[str, Any]:
        host, client = LiveSocket(host_headers), LiveSocket(client_headers)
        await host.open()
        await client.open()
        snapshots = [
            await host.request(_subscribe("site", site_id)),
            await host.request(_subscribe("client", shared.customer.pk)),
            await host.request(_subscribe("client", shared.other_customer.pk)),
            await client.request(_subscribe("client", None)),
        ]
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        host_deltas = [await host.receive(), await host.receive(), await host.receive()]
        client_deltas = [await client.receive()]
        quiet = await host.quiet() and await client.quiet()
        await host.close()
        await client.close()
        return {"snapshots": snapshots, "host": host_deltas, "client": client_deltas, "quiet": quiet}

    seen = async_to_sync(scenario)()

    assert [s["seq"] for s in seen["snapshots"]] == [0, 0, 0, 0]
    host = _by_key(seen["host"])
    assert set(host) == {f"site:{site_id}", mine_key, theirs_key}
    assert all(frame["type"] == "live.delta" and frame["seq"] == 1 for frame in seen["host"])
    assert seen["quiet"] is True
    latest = {row.miner_id: row for row in MinerLatest.objects.all()}
    summaries = live_summaries(site_ids=[site_id], customer_ids=[shared.customer.pk, shared.other_customer.pk])
    site_delta = host[f"site:{site_id}"]["payload"]
    assert sorted(r["id"] for r in site_delta["miners"]) == sorted(shared.mine + shared.theirs)
    for row in site_delta["miners"]:
        assert row["recorded_at"] == NOW.isoformat()
        assert row["status"] == MinerStatus.ONLINE
        assert row["hashrate_ths"] == pytest.approx(latest[row["id"]].hashrate_ths, abs=0.001)
    assert site_delta["summary"] == summaries.sites[site_id]
    assert site_delta["summary"]["miners"] == 6
    assert site_delta["summary"]["online"] == 6
    assert site_delta["summary"]["hashrate_ths"] == pytest.approx(
        sum(row.hashrate_ths or 0 for row in latest.values()), abs=0.01
    )
    assert site_delta["summary"]["recorded_at"] == NOW.isoformat()
    assert sorted(r["id"] for r in host[mine_key]["payload"]["miners"]) == shared.mine
    assert host[mine_key]["payload"]["summary"] == summaries.customers[shared.customer.pk]
    assert sorted(r["id"] for r in host[theirs_key]["payload"]["miners"]) == shared.theirs
    [client_delta] = seen["client"]
    assert client_delta["key"] == mine_key
    assert client_delta["seq"] == 1
    assert client_delta["payload"] == host[mine_key]["payload"]


@override_settings(**FAST_POLLS)
def test_a_clients_socket_never_carries_a_row_of_another_customer(
    shared_site: ShareSite, client_user: User, host_user: User
) -> None:
    shared = shared_site(count=4, seed=43, model_key="braiins-s19j-pro")
    Site.objects.filter(pk=shared.site.pk).update(max_temp_c=Decimal("1.0"))  # every miner runs too hot
    site_id, headers = shared.site.pk, live_headers(client_user)

    async def scenario() -> LiveSocket:
        client = LiveSocket(headers)
        await client.open()
        await client.request(_subscribe("client", None))
        await client.request(_subscribe("miner", shared.mine[0]))
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        await sync_to_async(alerts_evaluate_site)(site_id=site_id, now=NOW)
        for miner_id in (shared.theirs[0], shared.mine[0]):
            await sync_to_async(miner_command)(
                miner_id=miner_id, action=MinerAction.STOP, parameters={}, requested_by=host_user, now=NOW
            )
        while not await client.quiet(timeout=1.0):
            await client.receive()
        await client.close()
        return client

    client = async_to_sync(scenario)()

    types = [frame["type"] for frame in client.frames]
    assert {"live.snapshot", "live.delta", "live.alerts", "live.operation"} <= set(types)
    rows = [
        row for f in client.frames if f["type"] in ("live.snapshot", "live.delta") for row in f["payload"]["miners"]
    ]
    alerts = [a for f in client.frames if "alerts" in f.get("payload", {}) for a in f["payload"]["alerts"]]
    operations = [f["payload"]["operation"] for f in client.frames if f["type"] == "live.operation"]
    assert rows
    assert {row["customer_id"] for row in rows} == {shared.customer.pk}
    assert {row["id"] for row in rows} <= set(shared.mine)
    assert alerts
    assert {a["miner_id"] for a in alerts} <= set(shared.mine)
    assert {op["miner_id"] for op in operations} == {shared.mine[0]}
    assert all(str(miner_id) not in f["key"] for f in client.frames for miner_id in shared.theirs)


@override_settings(**FAST_POLLS)
def test_a_rolled_back_store_publishes_nothing(shared_site: ShareSite, host_user: User) -> None:
    shared = shared_site(count=2, seed=45)
    site_id, headers = shared.site.pk, live_headers(host_user)

    async def scenario() -> dict[str, Any]:
        host = LiveSocket(headers)
        await host.open()
        await host.request(_subscribe("site", site_id))
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        first = await host.receive()
        # The same moment again: its readings collide with the stored ones and the whole run rolls back.
        failed = None
        try:
            await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        except UniqueViolation as exc:  # raised by the COPY, below Django's wrappers
            failed = exc
        quiet = await host.quiet(timeout=1.0)
        await host.close()
        return {"first": first, "failed": failed, "quiet": quiet}

    seen = async_to_sync(scenario)()

    assert seen["first"]["seq"] == 1
    assert isinstance(seen["failed"], UniqueViolation)
    assert seen["quiet"] is True
    assert live_seq_get(source=f"site:{site_id}") == 1
    assert MinerTelemetry.objects.filter(site_id=site_id).count() == 2


@override_settings(**FAST_POLLS)
def test_a_page_that_sees_a_seq_gap_resyncs_to_a_fresh_snapshot(shared_site: ShareSite, host_user: User) -> None:
    shared = shared_site(count=2, seed=47)
    site_id, headers, later = shared.site.pk, live_headers(host_user), NOW + timedelta(minutes=1)

    def lose_a_delta() -> None:
        # As if a delta had been published and then lost on its way to this socket.
        get_redis_connection("default").incr(live_seq_key(source=f"site:{site_id}"))

    async def scenario() -> list[dict[str, Any]]:
        host = LiveSocket(headers)
        await host.open()
        await host.request(_subscribe("site", site_id))
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        first = await host.receive()
        await sync_to_async(lose_a_delta)()
        await sync_to_async(telemetry_collect)(site_id=site_id, now=later)
        after_gap = await host.receive()
        resynced = await host.request({"type": "resync", "scope": "site", "id": site_id})
        await host.close()
        return [first, after_gap, resynced]

    first, after_gap, resynced = async_to_sync(scenario)()

    assert (first["type"], first["seq"]) == ("live.delta", 1)
    assert (after_gap["type"], after_gap["seq"]) == ("live.delta", 3)
    assert (resynced["type"], resynced["key"], resynced["seq"]) == ("live.snapshot", f"site:{site_id}", 3)
    assert {row["recorded_at"] for row in resynced["payload"]["miners"]} == {later.isoformat()}


@override_settings(**FAST_POLLS)
def test_a_miner_page_gets_its_own_row_and_a_fresh_snapshot_when_its_stream_skipped(
    shared_site: ShareSite, host_user: User
) -> None:
    shared = shared_site(count=3, seed=49)
    site_id, miner_id, headers = shared.site.pk, shared.theirs[0], live_headers(host_user)
    later = NOW + timedelta(minutes=1)

    def lose_a_delta() -> None:
        get_redis_connection("default").incr(live_seq_key(source=f"site:{site_id}"))

    async def scenario() -> list[dict[str, Any]]:
        host = LiveSocket(headers)
        await host.open()
        snapshot = await host.request(_subscribe("miner", miner_id))
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        delta = await host.receive()
        await sync_to_async(lose_a_delta)()
        await sync_to_async(telemetry_collect)(site_id=site_id, now=later)
        fresh = await host.receive()
        await host.close()
        return [snapshot, delta, fresh]

    snapshot, delta, fresh = async_to_sync(scenario)()

    assert (snapshot["type"], snapshot["seq"]) == ("live.snapshot", 0)
    assert (delta["type"], delta["key"], delta["seq"]) == ("live.delta", f"miner:{miner_id}", 1)
    assert [row["id"] for row in delta["payload"]["miners"]] == [miner_id]
    assert delta["payload"]["summary"]["miners"] == 1
    assert delta["payload"]["summary"]["hashrate_ths"] == delta["payload"]["miners"][0]["hashrate_ths"]
    assert (fresh["type"], fresh["key"], fresh["seq"]) == ("live.snapshot", f"miner:{miner_id}", 1)
    assert fresh["payload"]["miners"][0]["recorded_at"] == later.isoformat()


@override_settings(**FAST_POLLS)
def test_alerts_opened_and_acknowledged_are_pushed_to_the_site_and_the_miner_page(
    shared_site: ShareSite, host_user: User
) -> None:
    shared = shared_site(count=2, seed=51)
    Site.objects.filter(pk=shared.site.pk).update(max_temp_c=Decimal("1.0"))
    site_id, watched, headers = shared.site.pk, shared.mine[0], live_headers(host_user)

    def acknowledge() -> None:
        alert = Alert.objects.get(miner_id=watched, kind=AlertKind.CHIP_TEMP_HIGH)
        alert_acknowledge(alert_id=alert.pk, user=host_user, now=NOW)

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        site, miner = LiveSocket(headers), LiveSocket(headers)
        await site.open()
        await miner.open()
        await site.request(_subscribe("site", site_id))
        await miner.request(_subscribe("miner", watched))
        await sync_to_async(telemetry_collect)(site_id=site_id, now=NOW)
        await site.receive()
        await miner.receive()
        await sync_to_async(alerts_evaluate_site)(site_id=site_id, now=NOW)
        opened = [await site.receive(), await miner.receive()]
        await sync_to_async(acknowledge)()
        acknowledged = [await site.receive(), await miner.receive()]
        await site.close()
        await miner.close()
        return {"opened": opened, "acknowledged": acknowledged}

    seen = async_to_sync(scenario)()

    site_opened, miner_opened = seen["opened"]
    assert site_opened["type"] == "live.alerts"
    assert site_opened["key"] == f"site:{site_id}"
    assert {(a["miner_id"], a["kind"], a["status"]) for a in site_opened["payload"]["alerts"]} == {
        (miner_id, AlertKind.CHIP_TEMP_HIGH, AlertStatus.OPEN) for miner_id in shared.mine + shared.theirs
    }
    assert miner_opened["key"] == f"miner:{watched}"
    assert [a["miner_id"] for a in miner_opened["payload"]["alerts"]] == [watched]
    site_ack, miner_ack = seen["acknowledged"]
    for frame in (site_ack, miner_ack):
        [alert] = frame["payload"]["alerts"]
        assert (alert["miner_id"], alert["status"]) == (watched, AlertStatus.ACKNOWLEDGED)
        assert alert["acknowledged_at"] == NOW.isoformat()
        assert alert["kind_label"] == "Chip temperature high"


def test_an_operation_is_pushed_when_requested_and_again_when_finished(shared_site: ShareSite, host_user: User) -> None:
    shared = shared_site(count=2, seed=53, model_key="braiins-s19j-pro")
    site_id, target, other, headers = shared.site.pk, shared.mine[0], shared.theirs[0], live_headers(host_user)

    async def scenario() -> dict[str, Any]:
        site, other_page = LiveSocket(headers), LiveSocket(headers)
        await site.open()
        await other_page.open()
        await site.request(_subscribe("site", site_id))
        await other_page.request(_subscribe("miner", other))
        await sync_to_async(miner_command)(
            miner_id=target, action=MinerAction.STOP, parameters={}, requested_by=host_user, now=NOW
        )
        frames = [await site.receive(), await site.receive()]
        quiet = await other_page.quiet(timeout=1.0)
        await site.close()
        await other_page.close()
        return {"frames": frames, "quiet": quiet}

    seen = async_to_sync(scenario)()

    requested, finished = (frame["payload"]["operation"] for frame in seen["frames"])
    operation = MinerOperation.objects.get(miner_id=target)
    assert [frame["type"] for frame in seen["frames"]] == ["live.operation", "live.operation"]
    assert requested["id"] == finished["id"] == operation.pk
    assert (requested["outcome"], requested["finished_at"]) == (REQUESTED, None)
    assert (finished["action"], finished["outcome"]) == (MinerAction.STOP, "ok")
    assert finished["finished_at"] is not None
    assert finished["requested_by"] == host_user.email
    assert seen["quiet"] is True
