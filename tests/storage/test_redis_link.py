"""The Redis store's link and scripts on a real redis-server: batches that carry what comes
while one is away, answers in order, a dropped connection failing its batch only; scripts
called by the names their headers give."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError

from mockserver.storage.redis import link as link_module
from mockserver.storage.redis.link import Clients, Link
from mockserver.storage.redis.scripts import Script, script

from ..redis_server import redis_url

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

LUA = resources.files("mockserver.storage.redis").joinpath("lua")


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    clients = Clients(redis_url())
    await clients.open_here()
    yield clients.here()
    await clients.here().client.aclose(close_connection_pool=True)


def count_batches(link: Link, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch the link sends, as it sends it."""
    sizes: list[int] = []
    exchange = link._exchange

    async def counted(commands: list[tuple[Any, ...]]) -> list[Any]:
        sizes.append(len(commands))
        return await exchange(commands)

    monkeypatch.setattr(link, "_exchange", counted)
    return sizes


async def test_what_comes_while_a_batch_is_away_goes_in_the_next_one(
    link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_batches(link, monkeypatch)

    answers = await asyncio.gather(*(link.send("ECHO", str(n)) for n in range(100)))

    assert answers == [str(n) for n in range(100)]  # each its own answer, in order
    assert sum(sizes) == 100
    assert len(sizes) <= 2


async def test_a_batch_carries_at_most_max_batch_commands(
    link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_module, "MAX_BATCH", 4)
    sizes = count_batches(link, monkeypatch)

    answers = await asyncio.gather(*(link.send("ECHO", str(n)) for n in range(10)))

    assert answers == [str(n) for n in range(10)]
    assert max(sizes) == 4
    assert sum(sizes) == 10


async def test_an_error_answer_is_its_commands_alone(link: Link) -> None:
    answers = await asyncio.gather(
        link.send("ECHO", "a"),
        link.send("NO-SUCH-COMMAND"),
        link.send("ECHO", "b"),
        return_exceptions=True,
    )
    good, bad, after = answers

    assert (good, after) == ("a", "b")
    assert isinstance(bad, ResponseError)


async def test_a_dropped_connection_fails_its_batch_and_the_next_one_reconnects(
    link: Link,
) -> None:
    await link.send("CLIENT", "SETNAME", "link-under-test")
    admin = redis.Redis.from_url(redis_url())
    try:
        admin.client_kill_filter(_type="normal", skipme=True)
    finally:
        admin.close()

    with pytest.raises(ConnectionError):
        await link.send("PING")
    assert await link.send("ECHO", "back") == "back"  # a new connection, by itself


async def test_a_caller_that_stopped_waiting_has_its_command_not_sent(
    link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_batches(link, monkeypatch)
    first = asyncio.ensure_future(link.send("ECHO", "first"))
    gone = asyncio.ensure_future(link.send("ECHO", "gone"))
    gone.cancel()

    assert await first == "first"
    assert sum(sizes) == 1


def test_every_script_names_each_key_and_argument_it_reads_and_reads_each_it_names() -> None:
    names = sorted(p.name.removesuffix(".lua") for p in LUA.iterdir() if p.name != "helpers.lua")
    assert len(names) >= 9  # the scripts were found: the loop below ran
    for name in names:
        loaded, source = script(name), LUA.joinpath(f"{name}.lua").read_text("utf-8")
        code = "\n".join(line for line in source.splitlines() if not line.startswith("--"))
        for kind, slots in (("KEYS", loaded.keys), ("ARGV", loaded.args)):
            read = {int(n) for n in re.findall(rf"{kind}\[(\d+)\]", code)}
            assert read == set(range(1, len(slots) + 1)), (name, kind, read, slots)


def test_a_call_names_every_key_and_argument_and_nothing_else() -> None:
    take_token = script("take_token")
    assert take_token.command({"bucket": "b", "rate": "1", "size": "2", "now": "3"}) == (
        "EVALSHA",
        take_token.sha,
        1,
        "b",
        "1",
        "2",
        "3",
    )
    with pytest.raises(TypeError, match="needs now"):
        take_token.command({"bucket": "b", "rate": "1", "size": "2"})
    with pytest.raises(TypeError, match="takes no extra"):
        take_token.command({"bucket": "b", "rate": "1", "size": "2", "now": "3", "extra": ""})


def test_a_header_out_of_order_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "mockserver.storage.redis.scripts._source",
        lambda name: "-- KEYS[1] a: one\n-- KEYS[3] c: three\nreturn 1\n",
    )
    with pytest.raises(ValueError, match=r"KEYS\[3\] c is out of order"):
        Script("broken")
