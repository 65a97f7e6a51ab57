"""Images made byte by byte (PNG, JPEG, WebP, GIF headers of a chosen size), and an HTTPS
server on 127.0.0.1 that serves them: for the reference-image checks and the files API."""

from __future__ import annotations

import contextlib
import http.server
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx

from mockserver import Settings
from mockserver.domain.timing import FAST

from .callback_fixtures import START, TLS, FakeResolver, api_for
from .conftest import MakeSimulator


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(vp8x)


def webp_lossy(width: int, height: int) -> bytes:
    """A lossy WebP's header ("VP8 "), its scale bits set (the size is the low 14 bits)."""
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a"  # a frame tag, then the key frame's start code
    frame += struct.pack("<HH", width | 1 << 14, height | 2 << 14)
    return _riff(b"VP8 " + struct.pack("<I", len(frame)) + frame)


def webp_lossless(width: int, height: int) -> bytes:
    """A lossless WebP's header ("VP8L"): its signature, then 14 bits each of size - 1, then
    the alpha bit (set: the height is the 14 bits, not all above them)."""
    bits = (width - 1) | (height - 1) << 14 | 1 << 28
    frame = b"\x2f" + bits.to_bytes(4, "little")
    return _riff(b"VP8L" + struct.pack("<I", len(frame)) + frame)


def _riff(chunk: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


GIF = b"GIF89a\x10\x00\x09\x00\x00\x00\x00;"


@contextlib.contextmanager
def image_server(tls: TLS, files: Mapping[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server on 127.0.0.1 serving `files` by path (404 for any other); yields its
    authority and the paths it was asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@contextlib.asynccontextmanager
async def allowing(
    make_simulator: MakeSimulator, tls: TLS, authority: str, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The mock in-process on the virtual clock, its own requests let through to `authority`
    (an `image_server`'s, its CA trusted), with these other settings."""
    made = Settings(
        timings=FAST,
        clock="virtual",
        start_time=START,
        callback_allow=frozenset({authority}),
        callback_ca_file=tls.ca_file,
        **settings,
    )
    async with api_for(make_simulator(made, resolver=FakeResolver())) as api:
        yield api
