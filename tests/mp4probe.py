"""A tiny stdlib-only MP4 box reader, so the tests can check the served videos without ffmpeg.

It reads just enough of ISO BMFF: the ``ftyp`` major brand, the movie duration from
``moov/mvhd`` and the frame size from the ``tkhd`` of the track whose ``mdia/hdlr`` handler
is ``vide``; it checks that the top-level boxes tile the file and that there is an ``mdat``,
but does not decode samples. Any malformed or truncated input raises ``ValueError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Mp4Info:
    width: int
    height: int
    duration: float
    major_brand: str


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, payload_end) for each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at offset {pos}")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise ValueError(f"truncated 64-bit box header at offset {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:  # box extends to the end of its container
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad size {size} for box {kind!r} at offset {pos}")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    raise ValueError(f"missing {kind.decode('latin-1')!r} box")


def _unpack(fmt: str, data: bytes, offset: int, end: int) -> tuple[int, ...]:
    if offset + struct.calcsize(fmt) > end:
        raise ValueError("truncated box payload")
    return struct.unpack_from(fmt, data, offset)


def _duration(data: bytes, start: int, end: int) -> float:
    (version,) = _unpack(">B", data, start, end)
    if version == 1:  # version/flags, creation & modification times (u64), timescale, duration
        timescale, duration = _unpack(">IQ", data, start + 20, end)
    elif version == 0:
        timescale, duration = _unpack(">II", data, start + 12, end)
    else:
        raise ValueError(f"unknown mvhd version {version}")
    if timescale == 0:
        raise ValueError("mvhd timescale is 0")
    return duration / timescale


def _frame_size(data: bytes, start: int, end: int) -> tuple[int, int]:
    (version,) = _unpack(">B", data, start, end)
    # width and height (16.16 fixed point) are the last 8 bytes of tkhd, after the matrix.
    if version == 1:
        offset = 4 + 8 + 8 + 4 + 4 + 8 + 8 + 2 + 2 + 2 + 2 + 36
    elif version == 0:
        offset = 4 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2 + 36
    else:
        raise ValueError(f"unknown tkhd version {version}")
    width, height = _unpack(">II", data, start + offset, end)
    return width >> 16, height >> 16


def _handler(data: bytes, start: int, end: int) -> bytes:
    mdia = _child(data, start, end, b"mdia")
    hdlr_start, hdlr_end = _child(data, *mdia, b"hdlr")
    if hdlr_start + 12 > hdlr_end:  # version/flags, pre_defined, handler_type
        raise ValueError("truncated hdlr box")
    return data[hdlr_start + 8 : hdlr_start + 12]


def probe(data: bytes) -> Mp4Info:
    """Width, height, duration (seconds) and major brand of an MP4 file's video track."""
    try:
        return _probe(data)
    except ValueError as exc:
        raise ValueError(f"not a valid MP4: {exc}") from None


def _probe(data: bytes) -> Mp4Info:
    top = list(_boxes(data))
    if not top or top[0][0] != b"ftyp":
        raise ValueError("it does not start with an 'ftyp' box")
    ftyp_start, ftyp_end = top[0][1], top[0][2]
    if ftyp_end - ftyp_start < 4:
        raise ValueError("truncated ftyp box")
    major_brand = data[ftyp_start : ftyp_start + 4].decode("latin-1")
    kinds = [kind for kind, _, _ in top]
    if b"moov" not in kinds:
        raise ValueError("missing 'moov' box")
    if b"mdat" not in kinds:  # a file cut off right after its (faststart) moov
        raise ValueError("missing 'mdat' box: truncated file?")
    _, moov_start, moov_end = top[kinds.index(b"moov")]
    duration = _duration(data, *_child(data, moov_start, moov_end, b"mvhd"))
    for kind, start, end in _boxes(data, moov_start, moov_end):
        if kind == b"trak" and _handler(data, start, end) == b"vide":
            width, height = _frame_size(data, *_child(data, start, end, b"tkhd"))
            return Mp4Info(width, height, duration, major_brand)
    raise ValueError("no video track")
