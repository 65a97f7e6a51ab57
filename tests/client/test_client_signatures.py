"""`Client` and `AsyncClient` are one API: the same public methods, with the same signatures.

Each class spells its signatures out (for type checkers, editors and `help()`); these tests are
what keeps the two copies, and `build_create_body`'s, from drifting apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import Any

import httpx
import pytest

from evolink_client import AsyncClient, Client, build_create_body

#: sync name -> async name, where httpx's convention gives the coroutine another name
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}
#: the constructor's parameters whose types differ by design: an httpx transport, and a sleep
#: that is a plain function or a coroutine function
IO_PARAMETERS = {"transport", "sleep"}


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def signature(function: Callable[..., Any]) -> inspect.Signature:
    """The signature with its annotations evaluated: types compared, not their spelling."""
    return inspect.signature(function, eval_str=True)


def parameters(signature: inspect.Signature, *, skip: Collection[str] = ()) -> list[object]:
    """What a signature promises of each parameter: its name, kind, default and annotation."""
    return [
        (p.name, p.kind, p.default, p.annotation) if p.name not in skip else (p.name, p.kind)
        for p in signature.parameters.values()
    ]


def pairs() -> list[tuple[str, str]]:
    sync_names = sorted({*public_methods(Client), "__enter__", "__exit__"})
    return [(name, RENAMED.get(name, name)) for name in sync_names]


def test_the_same_public_methods() -> None:
    renamed_back = {v: k for k, v in RENAMED.items()}
    async_names = {renamed_back.get(name, name) for name in public_methods(AsyncClient)}
    assert async_names == set(public_methods(Client))


@pytest.mark.parametrize(("sync_name", "async_name"), pairs())
def test_the_same_signature_plain_and_as_a_coroutine(sync_name: str, async_name: str) -> None:
    sync, asynchronous = getattr(Client, sync_name), getattr(AsyncClient, async_name)

    assert not inspect.iscoroutinefunction(sync)
    assert inspect.iscoroutinefunction(asynchronous)
    sync_signature, async_signature = signature(sync), signature(asynchronous)
    assert parameters(async_signature) == parameters(sync_signature)
    assert async_signature.return_annotation == sync_signature.return_annotation


def test_the_same_constructor_but_for_transport_and_sleep() -> None:
    sync, asynchronous = signature(Client.__init__), signature(AsyncClient.__init__)

    assert parameters(asynchronous, skip=IO_PARAMETERS) == parameters(sync, skip=IO_PARAMETERS)
    assert sync.parameters["transport"].annotation == httpx.BaseTransport | None
    assert asynchronous.parameters["transport"].annotation == httpx.AsyncBaseTransport | None


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_create_video_takes_what_build_create_body_takes_and_a_key(
    cls: type[Client | AsyncClient],
) -> None:
    self, *create, key = signature(cls.create_video).parameters.values()

    assert self.name == "self"
    assert parameters(inspect.Signature(create)) == parameters(signature(build_create_body))
    # the request's header, not its body
    assert (key.name, key.kind, key.default, key.annotation) == (
        "idempotency_key",
        inspect.Parameter.KEYWORD_ONLY,
        None,
        str | None,
    )
