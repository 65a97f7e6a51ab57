"""The Redis store's uploaded files: their records in one hash, their bytes (base64: the
store's clients read text) in another, and their expiries in sorted sets, everyone's and each
key's (what a quota counts)."""

from __future__ import annotations

import base64

from ...domain.files import StoredFile
from ..base import FileKept, NewFile
from ..records import dumps, file_from, file_record, loads
from .core import Connected, number, on_io


class Files(Connected):
    """The file methods of `RedisStore`."""

    def _file_keys(self, owner: str) -> dict[str, str]:
        return {
            "files": self._key("files"),
            "bytes": self._key("file_bytes"),
            "ends": self._key("file_ends"),
            "owned": self._key("files_of", owner),
        }

    @on_io
    async def add_file(self, new: NewFile) -> FileKept:
        file = new.file
        kept = await self._run(
            "add_file",
            **self._file_keys(file.owner),
            id=file.id,
            record=dumps(file_record(file)),
            content=base64.b64encode(new.content).decode("ascii"),
            expires=number(file.expires),
            now=number(new.now),
            cap="" if new.max_files is None else str(new.max_files),
        )
        return FileKept(kept)

    @on_io
    async def get_file(self, file_id: str) -> StoredFile | None:
        row = await self._send("HGET", self._key("files"), file_id)
        return None if row is None else file_from(loads(row))

    @on_io
    async def file_content(self, file_id: str) -> bytes | None:
        text = await self._send("HGET", self._key("file_bytes"), file_id)
        return None if text is None else base64.b64decode(text)

    @on_io
    async def files(self, owner: str | None, now: float) -> list[StoredFile]:
        if owner is None:
            rows = await self._send("HVALS", self._key("files"))
        else:
            ids = await self._send(
                "ZRANGEBYSCORE", self._key("files_of", owner), f"({number(now)}", "+inf"
            )
            rows = await self._send("HMGET", self._key("files"), *ids) if ids else []
        found = [file_from(loads(row)) for row in rows if row is not None]
        return sorted((f for f in found if f.live(now)), key=lambda f: f.uploaded)

    @on_io
    async def count_files(self, owner: str, now: float) -> int:
        count = await self._send("ZCOUNT", self._key("files_of", owner), f"({number(now)}", "+inf")
        return int(count)

    @on_io
    async def delete_file(self, file_id: str) -> bool:
        file = await self.get_file(file_id)
        if file is None:
            return False
        removed = await self._run("delete_file", **self._file_keys(file.owner), id=file_id)
        return bool(removed)
