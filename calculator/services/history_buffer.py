"""Quotes: single calculations answered without a database write, recorded later through a Redis buffer.

A quote is computed like any calculation (calculation_results on the current market figures), each part
of it encoded to JSON once, and answered. One Redis round trip counts it against the caller's limits and
reads the shared market state and the results' text the same inputs had last time; one more appends its
row for calculation_history (the same text, with the user's id) to a Redis list. calculation_history_flush,
a periodic job, moves a batch of rows to a processing list in one MULTI/EXEC of LMOVEs, inserts the batch
in one transaction and then drops the processing list. Each row carries the uid it was answered with (a unique column), and the insert skips
uids already stored (ON CONFLICT DO NOTHING), so a flush killed at any point loses nothing and stores
nothing twice: rows left in the processing list are inserted by the next run before any new batch.

When the buffer holds CALCULATOR_HISTORY_BUFFER_MAX_ROWS rows (the flush is not running), a quote's row
is taken back out and written at once, as the calculate API writes its rows: the buffer's memory stays
bounded and no row is dropped.
"""

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from django_redis import get_redis_connection

from calculator.models import CalculationHistory, MinerModel
from calculator.services.calculation import calculation_results, market_inputs_json
from calculator.services.market_inputs import (
    MarketInputs,
    market_inputs_from_shared,
    market_shared_key,
    market_snapshot_shared,
)
from mining_platform.core.errors import DomainError, InvalidInputError
from mining_platform.core.locks import job_lock
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

HISTORY_FLUSH_LOCK = "calculator.calculation_history_flush"
# A flush killed mid-run keeps the next one waiting at most this long (the heartbeat keeps a live one).
HISTORY_FLUSH_LOCK_SECONDS = 30
# The catalogue changes only by migration or in the admin: a quote may use a model's figures this old.
CATALOGUE_CACHE_SECONDS = 60.0


def history_buffer_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}calculator:history:buffer"


def history_processing_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}calculator:history:processing"


@dataclass(frozen=True)
class Quote:
    """One answered calculation: its uid and the answer as JSON text (the buffered row holds the same text)."""

    uid: uuid.UUID
    body: str
    buffered: bool  # False when the buffer was full and the row was written at once


@dataclass(frozen=True)
class HistoryFlush:
    """What one flush run did: rows inserted, rows skipped (already stored, unreadable, user gone), rows left."""

    inserted: int
    skipped: int
    remaining: int


class _Catalogue:
    """Miner models by id, read in one query and kept in this process for CATALOGUE_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[int, MinerModel] = {}
        self._loaded_at = float("-inf")

    def known(self, model_id: int) -> MinerModel | None:
        """The model when this process holds it fresh; None when finding out needs the database."""
        if time.monotonic() - self._loaded_at > CATALOGUE_CACHE_SECONDS:
            return None
        return self._models.get(model_id)

    def get(self, model_id: int) -> MinerModel | None:
        if time.monotonic() - self._loaded_at > CATALOGUE_CACHE_SECONDS:
            with self._lock:
                if time.monotonic() - self._loaded_at > CATALOGUE_CACHE_SECONDS:
                    self._models = {model.pk: model for model in MinerModel.objects.all()}
                    self._loaded_at = time.monotonic()
        model = self._models.get(model_id)
        if model is None:
            # Added since the catalogue was read (or not there at all): one indexed query, under the throttle.
            model = MinerModel.objects.filter(pk=model_id).first()
            if model is not None:
                self._models = {**self._models, model_id: model}
        return model


_catalogue = _Catalogue()


def _quote_model(*, data: Mapping[str, object]) -> MinerModel | None:
    model_id = data.get("miner_model_id")
    if model_id is None or model_id == "":
        return None
    model = _catalogue.get(model_id) if isinstance(model_id, int) else None
    if model is None:
        # The calculate API's message (calculator.services.calculation), so both answer alike.
        raise InvalidInputError(
            "Some values are not valid: miner_model_id.", fields={"miner_model_id": ["is not in the catalogue"]}
        )
    return model


def _inputs_json(data: Mapping[str, object]) -> dict[str, object]:
    return {key: (str(value) if isinstance(value, Decimal) else value) for key, value in data.items()}


def _iso(moment: datetime) -> str:
    # As the API renders datetimes (DRF): UTC with a Z.
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _encoded(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _results_key(*, inputs: Mapping[str, object], market: MarketInputs) -> str:
    """Where the results' text is kept: the same inputs at the same market figures and day give the same."""
    snapshot = market.snapshot
    identity = [
        inputs,
        str(snapshot.btc_price_usd),
        str(snapshot.difficulty),
        snapshot.block_height,
        str(snapshot.fees_per_block_btc),
        snapshot.as_of.date().isoformat(),
    ]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{settings.REDIS_KEY_PREFIX}calculator:quote:results:{digest}"


def _results_text(*, key: str, data: Mapping[str, object], model: MinerModel | None, market: MarketInputs) -> str:
    """calculation_results as JSON text, kept as text under `key` beside the results cache, for as long.

    Encoding the figures (a chart of some 400 points) costs several times reading them, so a repeated
    quote reads the text once encoded.
    """
    redis = get_redis_connection("default")
    cached = redis.get(key)
    if cached is not None:
        return bytes(cached).decode()
    text = _encoded(calculation_results(data=data, model=model, market=market))
    redis.set(key, text.encode(), ex=settings.CALCULATOR_RESULTS_CACHE_SECONDS)
    return text


@dataclass(frozen=True)
class QuoteCaller:
    """Who asks for a quote, for the throttle: an identity and its limits, as (requests, seconds) pairs."""

    ident: str
    limits: Sequence[tuple[int, int]]


class QuoteThrottledError(DomainError):
    """The caller asked more often than its limits allow; `wait_seconds` until its window passes."""

    code = "throttled"
    http_status = 429

    def __init__(self, *, wait_seconds: int) -> None:
        self.wait_seconds = wait_seconds
        plural = "" if wait_seconds == 1 else "s"
        # DRF's wording, as the API's other throttles answer.
        super().__init__(f"Request was throttled. Expected available in {wait_seconds} second{plural}.")


class _ResultsKeys:
    """The results key each recent set of inputs had, so the next quote can read its text in advance."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def get(self, inputs: str) -> str | None:
        return self._keys.get(inputs)

    def put(self, inputs: str, key: str) -> None:
        if len(self._keys) >= self.LIMIT:
            self._keys = {}  # a guess is only a guess: starting over costs one round trip per input
        self._keys[inputs] = key


_results_keys = _ResultsKeys()


@dataclass(frozen=True)
class QuotePlan:
    """What a quote needs to know before its one Redis round trip: its inputs and the keys to touch."""

    data: Mapping[str, object]
    inputs: Mapping[str, object]  # the data as JSON values, and as text below: each made once per quote
    inputs_text: str
    guess: str | None  # the results key these inputs had last time in this process
    windows: tuple[tuple[str, int, int], ...]  # (counter key, limit, seconds) per throttle window
    clock: float


@dataclass(frozen=True)
class QuotePrefetched:
    market: bytes | None
    results: bytes | None


class _Pipeline(Protocol):
    """The commands a quote queues; redis-py's pipelines, blocking and asyncio alike, take them."""

    def incr(self, name: str) -> object: ...
    def expire(self, name: str, time: int) -> object: ...
    def get(self, name: str) -> object: ...


def quote_plan(*, data: Mapping[str, object], caller: QuoteCaller, now: datetime) -> QuotePlan:
    inputs = _inputs_json(data)
    inputs_text = _encoded(inputs)
    clock = now.timestamp()
    # A fixed window per period: cheap, at the price of up to twice a limit across a window's edge.
    windows = tuple(
        (
            f"{settings.REDIS_KEY_PREFIX}calculator:quote:rate:{caller.ident}:{seconds}:{int(clock // seconds)}",
            limit,
            seconds,
        )
        for limit, seconds in caller.limits
    )
    return QuotePlan(
        data=data,
        inputs=inputs,
        inputs_text=inputs_text,
        guess=_results_keys.get(inputs_text),
        windows=windows,
        clock=clock,
    )


def quote_prefetch_queue(*, pipe: _Pipeline, plan: QuotePlan) -> None:
    """Queue the round trip: count the request in the caller's windows, and read what the quote will need."""
    for key, _, seconds in plan.windows:
        pipe.incr(key)
        pipe.expire(key, seconds + 1)
    pipe.get(market_shared_key())
    if plan.guess is not None:
        pipe.get(plan.guess)


def quote_prefetched(*, plan: QuotePlan, replies: Sequence[object]) -> QuotePrefetched:
    """The round trip's answers; raises QuoteThrottledError when the caller is over a limit."""
    counted = len(plan.windows) * 2
    waits = [
        math.ceil(seconds - plan.clock % seconds)
        for (_, limit, seconds), count in zip(plan.windows, replies[:counted:2], strict=True)
        if int(str(count)) > limit
    ]
    if waits:
        raise QuoteThrottledError(wait_seconds=max(waits))
    market, results = replies[counted], replies[counted + 1] if plan.guess is not None else None
    return QuotePrefetched(
        market=market if isinstance(market, bytes) else None, results=results if isinstance(results, bytes) else None
    )


@dataclass(frozen=True)
class QuoteAnswer:
    """An answered quote and the history row to buffer for it."""

    uid: uuid.UUID
    body: str
    entry: str


def _answer(
    *, plan: QuotePlan, model: MinerModel | None, market: MarketInputs, results: str, user_id: int | None, now: datetime
) -> QuoteAnswer:
    uid = uuid.uuid4()
    head = {"uid": str(uid), "created_at": _iso(now), "miner_model": None if model is None else model.pk}
    # Each part is encoded once; the answer and the buffered row are both put together from the same text.
    parts = [plan.inputs_text, _encoded(market_inputs_json(market)), results]
    body = _encoded(head)[:-1] + "".join(f',"{name}":{text}' for name, text in zip(_PARTS, parts, strict=True)) + "}"
    return QuoteAnswer(uid=uid, body=body, entry=_entry(head=head, user_id=user_id, parts=parts))


def quote_answer_from_memory(
    *, plan: QuotePlan, prefetched: QuotePrefetched, user_id: int | None, now: datetime
) -> QuoteAnswer | None:
    """The answer when everything it needs is in this process or came with the round trip; None otherwise.

    Does no I/O, so an event loop may call it; None sends the caller to quote_answer_with_io.
    """
    model_id = plan.data.get("miner_model_id")
    model = None
    if model_id is not None and model_id != "":
        model = _catalogue.known(model_id) if isinstance(model_id, int) else None
        if model is None:
            return None
    if prefetched.results is None:
        return None
    market = market_inputs_from_shared(now=now, stored=prefetched.market)
    if market is None:
        return None
    if _results_key(inputs=plan.inputs, market=market) != plan.guess:
        return None  # the market moved on since these inputs were last answered
    return _answer(plan=plan, model=model, market=market, results=prefetched.results.decode(), user_id=user_id, now=now)


def quote_answer_with_io(
    *, plan: QuotePlan, prefetched: QuotePrefetched, user_id: int | None, now: datetime
) -> QuoteAnswer:
    """The answer, reading the catalogue, the market and the results from the database and Redis as needed."""
    model = _quote_model(data=plan.data)
    market = market_snapshot_shared(now=now, stored=prefetched.market)
    key = _results_key(inputs=plan.inputs, market=market)
    if key == plan.guess and prefetched.results is not None:
        results = prefetched.results.decode()
    else:
        results = _results_text(key=key, data=plan.data, model=model, market=market)
        _results_keys.put(plan.inputs_text, key)
    return _answer(plan=plan, model=model, market=market, results=results, user_id=user_id, now=now)


def calculation_quote(*, data: Mapping[str, object], user_id: int | None, caller: QuoteCaller, now: datetime) -> Quote:
    """Compute one calculation at the current market, answer it as JSON and buffer its history row.

    `data` holds the calculate API's validated fields. Raises QuoteThrottledError when the caller is over
    its limits (counted first, before any other work), InvalidInputError naming each bad field, and
    UpstreamUnavailableError when no market data is stored at all. calculation_quote_async (quote_async)
    is the same for an event loop.
    """
    plan = quote_plan(data=data, caller=caller, now=now)
    pipe = get_redis_connection("default").pipeline(transaction=False)
    quote_prefetch_queue(pipe=pipe, plan=plan)
    prefetched = quote_prefetched(plan=plan, replies=pipe.execute())
    answer = quote_answer_from_memory(plan=plan, prefetched=prefetched, user_id=user_id, now=now)
    if answer is None:
        answer = quote_answer_with_io(plan=plan, prefetched=prefetched, user_id=user_id, now=now)
    return Quote(uid=answer.uid, body=answer.body, buffered=_buffer_append(entry=answer.entry))


# The figures of a buffered row, in the order they follow its head.
_PARTS = ("inputs", "market", "results")


def _entry(*, head: Mapping[str, object], user_id: int | None, parts: Sequence[str]) -> str:
    """A buffered row: its head (JSON) and each part (JSON) on a line of its own.

    Encoded JSON holds no raw line break, so the flush splits the parts apart and hands each to
    PostgreSQL as it is, without decoding and encoding it again.
    """
    return "\n".join([_encoded({**head, "user_id": user_id}), *parts])


def _buffer_append(*, entry: str) -> bool:
    """Append a row to the buffer; when the buffer is full, take it back and write it at once."""
    length = int(get_redis_connection("default").rpush(history_buffer_key(), entry))
    return quote_buffer_overflow(entry=entry, length=length)


def quote_buffer_overflow(*, entry: str, length: int) -> bool:
    """After appending `entry` made the buffer `length` long: True when it stays buffered.

    Past CALCULATOR_HISTORY_BUFFER_MAX_ROWS (the flush is not running) the row is taken back and written
    at once, so the buffer's memory stays bounded and no row is dropped.
    """
    if length <= settings.CALCULATOR_HISTORY_BUFFER_MAX_ROWS:
        return True
    redis = get_redis_connection("default")
    key = history_buffer_key()
    # Counted from the tail, where it was appended; 0 means a flush already moved it on.
    if not redis.lrem(key, -1, entry):
        return True
    logger.warning("Calculation history buffer full, writing the row at once: rows=%s", length)
    with transaction.atomic(durable=True):
        _rows_insert(entries=[entry.encode()])
    return False


# A row as COPY takes it, the figures as the JSON text they were buffered as.
_Row = tuple[uuid.UUID, int | None, datetime, int | None, str, str, str]
_INCOMING = "calculation_history_incoming"
_COLUMNS = "uid, user_id, created_at, miner_model_id, inputs, market, results"
_history, _models, _users = CalculationHistory._meta.db_table, MinerModel._meta.db_table, User._meta.db_table
# Rows of deleted accounts go (their calculations went with them: CASCADE); a model deleted from the
# catalogue since is forgotten (SET_NULL); a uid already stored (by a flush killed after its commit) is
# skipped by ON CONFLICT DO NOTHING.
_INSERT_INCOMING = f"""
INSERT INTO {_history} ({_COLUMNS})
SELECT i.uid, i.user_id, i.created_at, m.id, i.inputs, i.market, i.results
FROM {_INCOMING} i
LEFT JOIN {_models} m ON m.id = i.miner_model_id
WHERE i.user_id IS NULL OR EXISTS (SELECT 1 FROM {_users} u WHERE u.id = i.user_id)
ON CONFLICT DO NOTHING
"""  # noqa: S608  # table names are the models' own


def _row_from(raw: bytes) -> _Row:
    head_text, *parts = raw.decode().split("\n")
    head = json.loads(head_text)
    created_at = parse_datetime(head["created_at"])
    user_id, model_id = head["user_id"], head["miner_model"]
    # A row the database would refuse must not hold its whole batch back on every run.
    if created_at is None or len(parts) != len(_PARTS):
        raise ValueError("no creation time, or not every figure")
    if not all(value is None or type(value) is int for value in (user_id, model_id)):
        raise TypeError("user_id and miner_model are ids")
    if not all(isinstance(json.loads(part), dict) and "\\u0000" not in part for part in parts):
        raise ValueError("figures that are not a JSON object jsonb takes")
    return uuid.UUID(head["uid"]), user_id, created_at, model_id, parts[0], parts[1], parts[2]


def _rows_insert(*, entries: Sequence[bytes]) -> tuple[int, int]:
    """Insert buffered entries once each; returns (inserted, skipped). Runs inside the caller's transaction."""
    rows: list[_Row] = []
    for raw in entries:
        try:
            rows.append(_row_from(raw))
        except (ValueError, KeyError, TypeError):
            logger.exception("Calculation history entry unreadable, left out: entry=%.200r", raw)
    if not rows:
        return 0, len(entries)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # COPY into a table of this session, then one INSERT ... ON CONFLICT: rows are neither quoted into
        # SQL text in Python nor compressed twice (lz4, as calculation_history.results).
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_INCOMING} (uid uuid, user_id bigint, created_at timestamptz,"
            " miner_model_id bigint, inputs jsonb, market jsonb, results jsonb COMPRESSION lz4)"
            " ON COMMIT DELETE ROWS"
        )
        # Emptied on commit, but the caller's transaction may store more than one batch.
        cursor.execute(f"TRUNCATE {_INCOMING}")
        with cursor.copy(f"COPY {_INCOMING} ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_INSERT_INCOMING)
        inserted = cursor.rowcount
    return inserted, len(entries) - inserted


def _batch_store(*, entries: Sequence[bytes]) -> tuple[int, int]:
    with transaction.atomic(durable=True):
        return _rows_insert(entries=entries)


def calculation_history_flush(*, batch_rows: int, max_batches: int) -> HistoryFlush:
    """Move buffered quote rows into calculation_history: leftovers of a killed run first, then new batches.

    At most `max_batches` batches of `batch_rows` rows. Raises JobLockedError while another run holds the job.
    """
    redis = get_redis_connection("default")
    buffer_key, processing_key = history_buffer_key(), history_processing_key()
    inserted = skipped = 0
    with job_lock(HISTORY_FLUSH_LOCK, ttl_seconds=HISTORY_FLUSH_LOCK_SECONDS) as held:
        leftovers = redis.lrange(processing_key, 0, -1)
        batches = 0
        while batches < max_batches:
            if leftovers:
                entries, leftovers = leftovers, []
            else:
                pipe = redis.pipeline(transaction=True)
                for _ in range(batch_rows):
                    pipe.lmove(buffer_key, processing_key, "LEFT", "RIGHT")
                entries = [entry for entry in pipe.execute() if entry is not None]
                if not entries:
                    break
            batch_inserted, batch_skipped = _batch_store(entries=entries)
            inserted, skipped, batches = inserted + batch_inserted, skipped + batch_skipped, batches + 1
            if held.lost:
                # Another run may be working on the processing list now: leave it to whoever holds the job.
                logger.warning("Calculation history flush lost its lock; stopping: inserted=%s", inserted)
                break
            redis.delete(processing_key)
        remaining = int(redis.llen(buffer_key)) + int(redis.llen(processing_key))
    if inserted or skipped:
        logger.info("Calculation history flushed: inserted=%s skipped=%s remaining=%s", inserted, skipped, remaining)
    return HistoryFlush(inserted=inserted, skipped=skipped, remaining=remaining)
