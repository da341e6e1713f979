"""New retargets from mempool.space into difficulty_adjustments, and the live estimates that use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import respx
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks, Settings

from analytics.clients.base import ErrorKind
from analytics.clients.mempool_space import difficulty_from_bits
from analytics.models import DifficultyAdjustment, NetworkStats
from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.schedules import SCHEDULES
from analytics.selectors import network_estimates_latest
from analytics.services.network_estimates import BASIS_DAILY_BLOCKS
from analytics.services.retargets import retargets_record
from analytics.tasks import retargets_record_task
from mining_platform.core.locks import job_lock

pytestmark = pytest.mark.django_db

BASE = "https://mempool.space"
NOW = datetime(2026, 5, 6, 10, tzinfo=UTC)

# The first blocks of four epochs: (unix seconds, bits as mempool.space sends them, difficulty as it sends
# it). The difficulties were worked out from the bits by hand (0xffff * 2^208 / target), the first two
# are the shipped history's own last rows.
BLOCKS = {
    943488: (1775203902, 386008708, 138966872071213.2),  # 17020684
    945504: (1776452547, 386012009, 135594876535256.58),  # 17021369
    947520: (1777645385, 386009627, 138011376702899.47),  # 17020a1b
    949536: (1778816871, 386005474, 142437127227563.53),  # 1701f9e2
}
NEW_EPOCH = 947520
NEW_EPOCH_AT = datetime(2026, 5, 1, 14, 23, 5, tzinfo=UTC)


def block_hash(height: int) -> str:
    return f"00000000000000000001{height:044x}"


def block_body(height: int) -> dict[str, object]:
    """`/api/block/<hash>` as mempool.space documents it."""
    timestamp, bits, difficulty = BLOCKS[height]
    return {
        "id": block_hash(height),
        "height": height,
        "version": 536870912,
        "timestamp": timestamp,
        "tx_count": 3120,
        "size": 1598472,
        "weight": 3993051,
        "merkle_root": f"{height * 7919:064x}",
        "previousblockhash": block_hash(height - 1),
        "mediantime": timestamp - 3100,
        "nonce": 2746391857,
        "bits": bits,
        "difficulty": difficulty,
    }


@dataclass
class Chain:
    """mempool.space's answers for a chain with `tip` blocks; per-height overrides stand for failures."""

    tip: int
    tip_answer: httpx.Response | None = None
    hash_answers: dict[int, httpx.Response] = field(default_factory=dict)
    block_answers: dict[int, httpx.Response] = field(default_factory=dict)
    asked_heights: list[int] = field(default_factory=list)

    def tip_height(self, request: httpx.Request) -> httpx.Response:
        return self.tip_answer or httpx.Response(200, text=str(self.tip))

    def block_height(self, request: httpx.Request, height: str) -> httpx.Response:
        number = int(height)
        self.asked_heights.append(number)
        if number in self.hash_answers:
            return self.hash_answers[number]
        if number > self.tip or number not in BLOCKS:
            return httpx.Response(404, text="Block not found")
        return httpx.Response(200, text=block_hash(number))

    def block(self, request: httpx.Request, digest: str) -> httpx.Response:
        height = next((h for h in BLOCKS if block_hash(h) == digest), None)
        if height is None:
            return httpx.Response(404, text="Block not found")
        return self.block_answers.get(height) or httpx.Response(200, json=block_body(height))


@pytest.fixture
def live(settings: Settings) -> Settings:
    settings.MARKET_DATA_SOURCE = "live"
    settings.MARKET_MEMPOOL_URL = BASE
    return settings


@pytest.fixture
def stored() -> None:
    """The shipped history's last two retargets (the table's newest rows after load_market_history)."""
    for height in (943488, 945504):
        timestamp, bits, difficulty = BLOCKS[height]
        DifficultyAdjustment.objects.create(
            height=height,
            start_time=datetime.fromtimestamp(timestamp, tz=UTC),
            bits=f"{bits:08x}",
            difficulty=Decimal(str(difficulty)),
        )


@pytest.fixture
def mempool() -> Iterator[Callable[[Chain], None]]:
    with respx.mock(assert_all_called=False) as router:

        def serve(chain: Chain) -> None:
            router.get(f"{BASE}/api/blocks/tip/height").mock(side_effect=chain.tip_height)
            router.get(url__regex=rf"^{BASE}/api/block-height/(?P<height>\d+)$").mock(side_effect=chain.block_height)
            router.get(url__regex=rf"^{BASE}/api/block/(?P<digest>[0-9a-z]+)$").mock(side_effect=chain.block)

        yield serve


def _heights() -> list[int]:
    return list(DifficultyAdjustment.objects.order_by("height").values_list("height", flat=True))


@pytest.mark.usefixtures("live", "stored")
def test_retargets_record_stores_the_first_block_of_a_new_epoch(mempool: Callable[[Chain], None]) -> None:
    chain = Chain(tip=NEW_EPOCH + 580)
    mempool(chain)

    result = retargets_record(now=NOW)

    row = DifficultyAdjustment.objects.get(height=NEW_EPOCH)
    assert row.start_time == NEW_EPOCH_AT
    assert row.bits == "17020a1b"
    assert row.difficulty == Decimal("138011376702899.4700")
    assert chain.asked_heights == [NEW_EPOCH]
    assert (result.mode, result.tip_height, result.recorded, result.remaining) == ("live", 948100, (NEW_EPOCH,), 0)
    assert [(e.height, e.recorded, e.error) for e in result.epochs] == [(NEW_EPOCH, True, "")]


@pytest.mark.usefixtures("live", "stored")
def test_retargets_record_again_asks_only_the_tip_and_changes_nothing(mempool: Callable[[Chain], None]) -> None:
    chain = Chain(tip=NEW_EPOCH + 580)
    mempool(chain)
    retargets_record(now=NOW)
    before = list(DifficultyAdjustment.objects.order_by("height").values_list("height", "start_time", "difficulty"))

    again = retargets_record(now=NOW + timedelta(hours=1))

    assert chain.asked_heights == [NEW_EPOCH]
    assert (again.recorded, again.epochs) == ((), ())
    assert list(DifficultyAdjustment.objects.values_list("height", "start_time", "difficulty")) == before


@pytest.mark.usefixtures("live")
def test_retargets_record_backfills_the_missing_epochs_newest_first_within_the_bound(
    mempool: Callable[[Chain], None],
) -> None:
    DifficultyAdjustment.objects.create(
        height=941472, start_time=datetime(2026, 3, 20, tzinfo=UTC), bits="17021a91", difficulty=Decimal(1)
    )
    chain = Chain(tip=949536 + 100)
    mempool(chain)

    first = retargets_record(now=NOW, max_epochs=3)
    second = retargets_record(now=NOW, max_epochs=3)

    assert first.recorded == (945504, 947520, 949536)
    assert first.remaining == 1
    assert second.recorded == (943488,)
    assert second.remaining == 0
    assert _heights() == [941472, 943488, 945504, 947520, 949536]
    assert chain.asked_heights == [949536, 947520, 945504, 943488]


@pytest.mark.usefixtures("live", "stored")
def test_retargets_record_waits_until_the_first_block_is_six_deep(mempool: Callable[[Chain], None]) -> None:
    chain = Chain(tip=NEW_EPOCH + 5)
    mempool(chain)

    result = retargets_record(now=NOW)

    assert chain.asked_heights == []
    assert result.recorded == ()
    assert _heights() == [943488, 945504]


@pytest.mark.usefixtures("live")
def test_retargets_record_with_nothing_stored_takes_the_current_and_the_previous_epoch(
    mempool: Callable[[Chain], None],
) -> None:
    mempool(Chain(tip=NEW_EPOCH + 580))

    result = retargets_record(now=NOW)

    assert result.recorded == (945504, NEW_EPOCH)
    assert _heights() == [945504, NEW_EPOCH]


@pytest.mark.usefixtures("live")
def test_retargets_record_records_a_404_for_an_unknown_height_keeps_the_others_and_asks_again(
    mempool: Callable[[Chain], None],
) -> None:
    DifficultyAdjustment.objects.create(
        height=943488, start_time=datetime(2026, 4, 3, tzinfo=UTC), bits="17020684", difficulty=Decimal(1)
    )
    chain = Chain(tip=NEW_EPOCH + 580, hash_answers={945504: httpx.Response(404, text="Block not found")})
    mempool(chain)

    result = retargets_record(now=NOW)

    outcome = {e.height: e for e in result.epochs}
    assert (outcome[945504].recorded, outcome[945504].error_kind) == (False, ErrorKind.HTTP_ERROR)
    assert outcome[945504].http_status == 404
    assert "Block not found" in outcome[945504].error
    assert result.recorded == (NEW_EPOCH,)
    assert _heights() == [943488, NEW_EPOCH]

    chain.hash_answers.clear()
    retried = retargets_record(now=NOW + timedelta(hours=1))

    assert retried.recorded == (945504,)
    assert _heights() == [943488, 945504, NEW_EPOCH]


def _body_with(**changes: object) -> httpx.Response:
    body = block_body(NEW_EPOCH) | changes
    return httpx.Response(200, json={k: v for k, v in body.items() if v is not None})


@pytest.mark.usefixtures("live", "stored")
@pytest.mark.parametrize(
    ("block_answer", "kind", "message"),
    [
        (httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>"), ErrorKind.MALFORMED, "not JSON"),
        (httpx.Response(200, json=[block_body(NEW_EPOCH)]), ErrorKind.MALFORMED, "is not an object"),
        (_body_with(bits=None), ErrorKind.MALFORMED, "has no bits"),
        (_body_with(bits="17020a1b"), ErrorKind.MALFORMED, "bits is not an integer"),
        (_body_with(bits=0x17820A1B), ErrorKind.OUT_OF_RANGE, "not a valid compact target"),
        (_body_with(difficulty=BLOCKS[945504][2]), ErrorKind.MALFORMED, "does not match its bits"),
        (_body_with(difficulty="many"), ErrorKind.MALFORMED, "is not a number"),
        (_body_with(height=NEW_EPOCH + 1), ErrorKind.MALFORMED, "has height"),
        (_body_with(id=block_hash(NEW_EPOCH + 1)), ErrorKind.MALFORMED, "is about block"),
        (_body_with(timestamp=-5), ErrorKind.OUT_OF_RANGE, "not a plausible time"),
        (httpx.Response(429, text="Too Many Requests"), ErrorKind.RATE_LIMITED, "HTTP 429"),
    ],
)
def test_retargets_record_refuses_a_bad_block_answer_and_stores_nothing(
    mempool: Callable[[Chain], None], block_answer: httpx.Response, kind: str, message: str
) -> None:
    mempool(Chain(tip=NEW_EPOCH + 580, block_answers={NEW_EPOCH: block_answer}))

    result = retargets_record(now=NOW)

    (epoch,) = result.epochs
    assert (epoch.height, epoch.recorded, epoch.error_kind) == (NEW_EPOCH, False, kind)
    assert message in epoch.error
    assert _heights() == [943488, 945504]


@pytest.mark.usefixtures("live", "stored")
def test_retargets_record_refuses_a_hash_that_is_not_64_hex_digits(mempool: Callable[[Chain], None]) -> None:
    answer = httpx.Response(200, text="<!DOCTYPE html><title>mempool - Bitcoin Explorer</title>")
    mempool(Chain(tip=NEW_EPOCH + 580, hash_answers={NEW_EPOCH: answer}))

    result = retargets_record(now=NOW)

    assert [(e.recorded, e.error_kind) for e in result.epochs] == [(False, ErrorKind.MALFORMED)]
    assert "not 64 hex digits" in result.epochs[0].error
    assert _heights() == [943488, 945504]


@pytest.mark.usefixtures("live", "stored")
@pytest.mark.parametrize(
    ("tip_answer", "kind"),
    [
        (httpx.Response(200, text="Service temporarily unavailable"), ErrorKind.MALFORMED),
        (httpx.Response(429, text="Too Many Requests"), ErrorKind.RATE_LIMITED),
        (httpx.Response(503, text="Service Unavailable"), ErrorKind.HTTP_ERROR),
    ],
)
def test_retargets_record_records_a_failing_tip_height_and_asks_no_block(
    mempool: Callable[[Chain], None], tip_answer: httpx.Response, kind: str
) -> None:
    chain = Chain(tip=NEW_EPOCH + 580, tip_answer=tip_answer)
    mempool(chain)

    result = retargets_record(now=NOW)

    assert (result.tip_height, result.error_kind, result.epochs) == (None, kind, ())
    assert result.error
    assert chain.asked_heights == []
    assert _heights() == [943488, 945504]


def test_retargets_record_asks_nothing_in_replay_mode(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"

    with respx.mock(assert_all_mocked=True) as router:
        result = retargets_record(now=NOW)

    assert not router.calls
    assert (result.mode, result.recorded) == ("replay", ())


def _hashrate_ths(*, blocks: int, difficulty: float) -> float:
    # The inverse of daily_blocks: hash rate = blocks * difficulty * 2^32 / 86400 s, in TH/s.
    return blocks * difficulty * 2.0**32 / 86400 / 1e12


@pytest.mark.usefixtures("live", "stored")
def test_network_estimates_latest_in_live_mode_uses_a_newly_recorded_epoch_the_same_day(
    mempool: Callable[[Chain], None], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    old, new = BLOCKS[945504][2], BLOCKS[NEW_EPOCH][2]
    # blockchain.info's daily rows: 144 blocks a day; on 2026-05-01 a quarter of them at the new difficulty.
    day = datetime(2026, 4, 17, tzinfo=UTC)
    while day < datetime(2026, 5, 6, tzinfo=UTC):
        if day.date() == NEW_EPOCH_AT.date():
            difficulty = old + 0.25 * (new - old)
        else:
            difficulty = old if day < NEW_EPOCH_AT else new
        NetworkStats.objects.create(
            source="blockchain_info",
            recorded_at=day,
            difficulty=Decimal(str(difficulty)),
            hashrate_ths=_hashrate_ths(blocks=144, difficulty=difficulty),
        )
        day += timedelta(days=1)
    before = network_estimates_latest(now=NOW)
    mempool(Chain(tip=NEW_EPOCH + 700))

    with django_capture_on_commit_callbacks(execute=True):
        retargets_record(now=NOW)
    after = network_estimates_latest(now=NOW + timedelta(hours=1))

    assert before.progress.epoch.height == 945504
    assert after.progress.epoch.height == NEW_EPOCH
    assert after.progress.basis == BASIS_DAILY_BLOCKS
    assert after.progress.started_at == NEW_EPOCH_AT
    # By hand: 36 blocks of 2026-05-01 at the new difficulty, then 4 days of 144.
    assert after.progress.blocks_mined == 36 + 4 * 144
    assert after.height == NEW_EPOCH + 612
    as_of = datetime(2026, 5, 6, tzinfo=UTC)
    assert after.retarget.mean_block_seconds == pytest.approx((as_of - NEW_EPOCH_AT).total_seconds() / 612)
    assert after.retarget.next_height == NEW_EPOCH + 2016


def test_difficulty_from_bits_matches_every_shipped_retarget() -> None:
    (dataset,) = [d for d in DATASETS if d.name == "btc_difficulty_adjustments"]
    rows = list(offline_dataset_rows(dataset=dataset))

    mismatched = [
        row["height"]
        for row in rows
        if abs(difficulty_from_bits(int(row["bits"], 16)) / Decimal(row["difficulty"]) - 1) > Decimal("1e-12")
    ]

    assert len(rows) > 400
    assert mismatched == []


@pytest.mark.django_db(transaction=True)
def test_retargets_record_task_runs_under_its_job_lock(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"

    with job_lock("analytics.retargets_record", ttl_seconds=5):
        skipped = retargets_record_task.delay().get()
    ran = retargets_record_task.delay().get()

    assert skipped is None
    assert ran == {
        "mode": "replay",
        "tip_height": None,
        "recorded": 0,
        "failed": 0,
        "remaining": 0,
        "error_kind": None,
    }


def test_retargets_record_is_scheduled_hourly() -> None:
    jobs = {job.name: job for job in SCHEDULES}

    assert jobs["analytics.retargets_record"].task == "analytics.retargets_record"
    assert jobs["analytics.retargets_record"].every_seconds == 3600
