"""Recording files: JSON lines appended one exchange at a time, each flushed and synced to disk
before the next, so that a proxy killed mid-recording loses at most the exchange in flight."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

from ..domain.recording import Exchange

REDACTED = "***"


class RecordingWriter:
    """Appends exchanges to a recording; media go to the folder beside it (`FILE.media/`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.media_dir = self.path.with_name(self.path.name + ".media")
        self._file: IO[str] | None = None

    def write(self, exchange: Exchange, *, secrets: tuple[str, ...] = ()) -> None:
        """One line, synced before returning; any of `secrets` met in it is written as ***."""
        line = json.dumps(exchange.to_json(), ensure_ascii=False, separators=(",", ":"))
        for secret in secrets:
            if secret:
                line = line.replace(secret, REDACTED)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def media_file(self, name: str) -> Path:
        self.media_dir.mkdir(parents=True, exist_ok=True)
        return self.media_dir / name

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def media_paths(path: str | os.PathLike[str], names: tuple[str, ...]) -> tuple[str, ...]:
    """Where a recording's media files are (`FILE.media/NAME`), those that exist."""
    folder = Path(path).with_name(Path(path).name + ".media")
    return tuple(str(folder / name) for name in names if (folder / name).is_file())


def read_recording(path: str | os.PathLike[str]) -> list[Exchange]:
    """The exchanges of a recording. A last line cut short (the writer was killed mid-line) is
    left out; any other line that is not an exchange is a ValueError naming its line."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, last = lines[:-1], lines[-1]  # `last` is "" unless the final write was cut
    exchanges = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            exchanges.append(Exchange.from_json(json.loads(line)))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    del last
    return exchanges
