"""The Lua scripts of the Redis store, each a file in `lua/` that says what it takes.

A script's header names its KEYS and ARGV in order (`-- KEYS[1] task: ...`, `-- ARGV[1] id:
...`); a call names each of them (`script(link, task=..., id=...)`), and a missing or unknown
name is a TypeError before anything is sent. Every argument is always passed (an empty string
stands for "none"), so no script reads an optional tail. A script that calls `settle` or
`reserved` has `helpers.lua` prepended.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from .link import Link

_SLOT = re.compile(r"^-- (KEYS|ARGV)\[(\d+)\] (\w+):", re.MULTILINE)
_HELPERS = ("settle(", "reserved(")


def _source(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


class Script:
    """One script, run by its SHA1 (loaded again when Redis lost it, as after a restart)."""

    def __init__(self, name: str) -> None:
        body = _source(name)
        self.name = name
        self.source = _source("helpers") + body if any(h in body for h in _HELPERS) else body
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        slots: dict[str, list[str]] = {"KEYS": [], "ARGV": []}
        for kind, index, slot in _SLOT.findall(body):
            if int(index) != len(slots[kind]) + 1:
                raise ValueError(f"{name}.lua: {kind}[{index}] {slot} is out of order")
            slots[kind].append(slot)
        self.keys, self.args = slots["KEYS"], slots["ARGV"]
        if len({*self.keys, *self.args}) != len(self.keys) + len(self.args):
            raise ValueError(f"{name}.lua: a KEYS and an ARGV name are the same")

    def command(self, named: dict[str, Any]) -> tuple[Any, ...]:
        """The EVALSHA command for these named keys and arguments."""
        try:
            keys = [named[slot] for slot in self.keys]
            args = [named[slot] for slot in self.args]
        except KeyError:
            missing = [s for s in (*self.keys, *self.args) if s not in named]
            raise TypeError(f"{self.name}.lua needs {', '.join(missing)}") from None
        if len(named) != len(keys) + len(args):
            unknown = named.keys() - {*self.keys, *self.args}
            raise TypeError(f"{self.name}.lua takes no {', '.join(sorted(unknown))}")
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    async def __call__(self, link: Link, /, **named: Any) -> Any:
        command = self.command(named)
        try:
            return await link.send(*command)
        except NoScriptError:
            await link.send("SCRIPT", "LOAD", self.source)
            return await link.send(*command)


@functools.cache
def script(name: str) -> Script:
    """The script `lua/NAME.lua`, read once per process."""
    return Script(name)
