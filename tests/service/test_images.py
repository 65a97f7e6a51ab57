"""Reference images with `--fetch-images`: fetched under the callback address rules from a
local HTTPS server, checked by content, size and shape; without the flag nothing is fetched."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mockserver.delivery import images as image_module
from mockserver.delivery.images import ImageInfo, sniff

from ..bodies import create_body
from ..callback_fixtures import TLS
from ..conftest import MakeSimulator
from ..image_fixtures import (
    GIF,
    allowing,
    image_server,
    jpeg,
    png,
    webp,
    webp_lossless,
    webp_lossy,
)

pytestmark = pytest.mark.anyio


FILES: dict[str, bytes] = {
    "/wide.png": png(160, 90),
    "/square.png": png(64, 64),
    "/tall.jpg": jpeg(90, 160),
    "/wide.webp": webp(1600, 900),
    "/cat.gif": GIF,
    "/named-like-a.png": GIF,  # the name says png, the content does not
    "/huge.png": png(160, 90) + b"\x00" * (10 * 1024 * 1024),  # over the vendor's 10 MB
}


@pytest.fixture(scope="module")
def images(tls: TLS) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server on 127.0.0.1 serving FILES; yields its authority and the paths asked."""
    with image_server(tls, FILES) as served:
        yield served


async def outcome(
    make_simulator: MakeSimulator,
    tls: TLS,
    authority: str,
    urls: list[str],
    aspect_ratio: str = "16:9",
    *,
    fetch: bool = True,
) -> dict[str, Any]:
    async with allowing(make_simulator, tls, authority, fetch_images=fetch) as api:
        body = create_body(prompt="a cat", aspect_ratio=aspect_ratio, image_urls=urls)
        created = await api.post("/v1/videos/generations", json=body)
        assert created.status_code == 200, created.text
        await api.post("/_mock/clock/advance", json={"seconds": 3600})
        task: dict[str, Any] = (await api.get(f"/v1/tasks/{created.json()['id']}")).json()
    return task


@pytest.mark.parametrize(
    ("path", "aspect_ratio"),
    [("/wide.png", "16:9"), ("/tall.jpg", "9:16"), ("/wide.webp", "16:9")],
)
async def test_an_image_of_the_right_kind_and_shape_completes(
    make_simulator: MakeSimulator,
    tls: TLS,
    images: tuple[str, list[str]],
    path: str,
    aspect_ratio: str,
) -> None:
    authority, asked = images
    task = await outcome(
        make_simulator, tls, authority, [f"https://{authority}{path}"], aspect_ratio
    )

    assert task["status"] == "completed"
    assert path in asked


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("https://{authority}/cat.gif", "image_processing_error", "not a jpg, jpeg, png or webp"),
        ("https://{authority}/named-like-a.png", "image_processing_error", "not a jpg"),
        ("https://{authority}/absent.png", "image_processing_error", "HTTP 404"),
        ("https://{authority}/huge.png", "image_processing_error", "larger than 10 MB"),
        ("https://127.0.0.1:9/unreachable.png", "image_processing_error", "could not be read"),
        ("https://10.1.2.3/private.png", "image_processing_error", "refused by policy"),
        ("https://{authority}/square.png", "image_dimension_mismatch", "64x64"),
        ("https://{authority}/tall.jpg", "image_dimension_mismatch", "90x160"),
    ],
    ids=[
        "gif",
        "gif-named-png",
        "404",
        "over-10-mb",
        "unreachable",
        "private-address",
        "square",
        "tall",
    ],
)
async def test_a_bad_image_fails_the_task_as_it_leaves_pending(
    make_simulator: MakeSimulator,
    tls: TLS,
    images: tuple[str, list[str]],
    url: str,
    code: str,
    words: str,
) -> None:
    authority, _ = images
    allowed = url.format(authority=authority)
    if "127.0.0.1:9" in allowed:
        authority = "127.0.0.1:9"  # allowed, so that only the connection fails
    task = await outcome(make_simulator, tls, authority, [allowed])

    assert task["status"] == "failed"
    assert task["progress"] == 0
    assert task["error"]["code"] == code
    assert words in task["error"]["message"]
    assert task["error"]["message"].split("\n")[0].endswith(".")  # the vendor's title line


async def test_the_tls_context_is_made_once_not_per_create(
    make_simulator: MakeSimulator,
    tls: TLS,
    images: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the system's CAs costs about 36 ms of CPU: a create with an image pays it once
    per thread, not on every request, and the context made is the one `client_context` (the
    callback engine's too) hands out for that CA file."""
    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setattr(image_module, "_contexts", threading.local())  # none made yet
    authority, asked = images
    before = len(asked)
    for _ in range(3):
        task = await outcome(make_simulator, tls, authority, [f"https://{authority}/wide.png"])
        assert task["status"] == "completed"  # the CA file still trusted: fetched over TLS

    assert len(asked) == before + 3
    assert len(made) == 1
    assert image_module.client_context(tls.ca_file) is made[0]


def test_each_thread_has_its_own_tls_context(tls: TLS) -> None:
    """httpcore sets a context's ALPN protocols on every connection: a context is not shared
    between threads that may connect at once."""
    here = image_module.client_context(tls.ca_file)
    with ThreadPoolExecutor(1) as pool:
        there = pool.submit(image_module.client_context, tls.ca_file).result()

    assert here is image_module.client_context(tls.ca_file)
    assert there is not here


async def test_without_the_flag_nothing_is_fetched(
    make_simulator: MakeSimulator, tls: TLS, images: tuple[str, list[str]]
) -> None:
    authority, asked = images
    before = len(asked)
    task = await outcome(
        make_simulator, tls, authority, [f"https://{authority}/cat.gif"], fetch=False
    )

    assert task["status"] == "completed"
    assert len(asked) == before


def test_sniffing_reads_the_size_from_the_content() -> None:
    assert sniff(png(160, 90)) == ImageInfo("png", 160, 90)
    assert sniff(jpeg(90, 160)) == ImageInfo("jpeg", 90, 160)
    assert sniff(webp(1600, 900)) == ImageInfo("webp", 1600, 900)
    assert sniff(webp_lossy(1280, 720)) == ImageInfo("webp", 1280, 720)
    assert sniff(webp_lossless(720, 1280)) == ImageInfo("webp", 720, 1280)
    assert sniff(webp_lossy(1280, 720)[:29]) is None  # its size cut off
    assert sniff(GIF) == ImageInfo("gif", 16, 9)  # an upload may be one; a reference not
    assert sniff(b"") is None
    assert sniff(b"\xff\xd8\xff") is None  # a truncated JPEG


def test_serve_takes_fetch_images() -> None:
    from mockserver.cli.main import build_parser, settings_from

    parser = build_parser()
    assert settings_from(parser.parse_args(["serve", "--fetch-images"])).fetch_images
    assert not settings_from(parser.parse_args(["serve"])).fetch_images
