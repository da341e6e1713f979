"""The quote for an event loop: calculation_quote's answer over asyncio Redis.

A repeated quote needs two Redis round trips and no database, so it is answered on the loop itself; only
a quote that must read the database or compute (a cold cache, a catalogue older than its minute) takes one
trip to a worker thread.
"""

import asyncio
import weakref
from collections.abc import Mapping
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from redis.asyncio import Redis

from .history_buffer import (
    Quote,
    QuoteAnswer,
    QuoteCaller,
    QuotePlan,
    QuotePrefetched,
    history_buffer_key,
    quote_answer_from_memory,
    quote_answer_with_io,
    quote_buffer_overflow,
    quote_plan,
    quote_prefetch_queue,
    quote_prefetched,
)

# A client's connections belong to the loop that opened them; tests run several loops in one process.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis[bytes]]" = weakref.WeakKeyDictionary()


def _redis() -> "Redis[bytes]":
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = Redis.from_url(settings.REDIS_URL)
        _clients[loop] = client
    return client


def _in_thread_answer(
    *, plan: QuotePlan, prefetched: QuotePrefetched, user_id: int | None, now: datetime
) -> QuoteAnswer:
    try:
        return quote_answer_with_io(plan=plan, prefetched=prefetched, user_id=user_id, now=now)
    finally:
        # No request cycle closes this thread's connection: give it back (to the pool, when there is one).
        close_old_connections()


def _in_thread_overflow(*, entry: str, length: int) -> bool:
    try:
        return quote_buffer_overflow(entry=entry, length=length)
    finally:
        close_old_connections()


async def calculation_quote_async(
    *, data: Mapping[str, object], user_id: int | None, caller: QuoteCaller, now: datetime
) -> Quote:
    """As calculation_quote (same answer, same errors, same history row), without blocking the loop."""
    plan = quote_plan(data=data, caller=caller, now=now)
    redis = _redis()
    async with redis.pipeline(transaction=False) as pipe:
        quote_prefetch_queue(pipe=pipe, plan=plan)
        replies = await pipe.execute()
    prefetched = quote_prefetched(plan=plan, replies=replies)
    answer = quote_answer_from_memory(plan=plan, prefetched=prefetched, user_id=user_id, now=now)
    if answer is None:
        answer = await sync_to_async(_in_thread_answer, thread_sensitive=False)(
            plan=plan, prefetched=prefetched, user_id=user_id, now=now
        )
    length = int(await redis.rpush(history_buffer_key(), answer.entry))
    buffered = length <= settings.CALCULATOR_HISTORY_BUFFER_MAX_ROWS or await sync_to_async(
        _in_thread_overflow, thread_sensitive=False
    )(entry=answer.entry, length=length)
    return Quote(uid=answer.uid, body=answer.body, buffered=buffered)
