"""Task ids as the vendor makes them: `task-unified-<unix seconds>-<8 lowercase alphanumerics>`."""

from __future__ import annotations

import random
import secrets
import string

TASK_ID_PREFIX = "task-unified-"
_ALPHABET = string.ascii_lowercase + string.digits
#: byte b -> _ALPHABET[b % 36], for bytes.translate; bytes 252 and up (252 = 7 x 36) are dropped
#: so that every character is equally likely
_TABLE = bytes(ord(_ALPHABET[b % 36]) for b in range(256))
_DROPPED = bytes(range(252, 256))


class TaskIds:
    """Draws suffixes from a pool of OS randomness, refilled 4 KB at a time; from `rng` instead
    when one is given (a seeded run draws the same ids again)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng
        self._pool = ""
        self._at = 0

    def _suffix(self) -> str:
        if self._rng is not None:
            return "".join(self._rng.choices(_ALPHABET, k=8))
        at = self._at
        if at + 8 > len(self._pool):
            raw = secrets.token_bytes(4096)
            self._pool = raw.translate(_TABLE, _DROPPED).decode("ascii")
            at = 0
        self._at = at + 8
        return self._pool[at : at + 8]

    def new(self, now: float) -> str:
        return f"{TASK_ID_PREFIX}{int(now)}-{self._suffix()}"


class RequestIds:
    """`req_` and 24 hex digits: from a pool of OS randomness refilled 4 KB at a time (one
    system call per 170 ids), or from `rng` when one is given (a seeded run)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng
        self._pool = ""
        self._at = 0

    def new(self) -> str:
        if self._rng is not None:
            return "req_" + self._rng.randbytes(12).hex()
        at = self._at
        if at + 24 > len(self._pool):
            self._pool = secrets.token_hex(2048)
            at = 0
        self._at = at + 24
        return "req_" + self._pool[at : at + 24]
