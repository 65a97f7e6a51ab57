"""Reference images, looked at as the vendor does (opt-in with `--fetch-images`).

Each `image_urls` entry is fetched under the callback address policy and allow-list (the same
SSRF rules: a private or loopback address only when allowed by name), or, for the URL of a file
uploaded to the mock (the files API), read from its store without any request; then checked as the
vendor's Sora pages require: a jpg, jpeg, png or webp by its content (not its name), at most
10 MB, and pixels matching the frame the model renders for the request, as its data file says
(`[images] match`): the frame's shape within 2 %, or exactly its pixels (the sora-2 pages: "must
exactly match the selected aspect_ratio"). The first failure is the task's:
`image_processing_error` for an image that cannot be fetched or read, `image_dimension_mismatch`
for one of the wrong shape.
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..domain.models import ModelProfile
from ..domain.scenarios import TASK_FAILURES
from ..domain.tasks import Failure, VideoRequest
from .ssrf import CallbackPolicy, PolicyViolation, Resolver, pinned_request

if TYPE_CHECKING:  # imported where it is used, so that `serve` starts without it
    import httpx

log = logging.getLogger("mockserver.images")

#: The vendor's limit on one reference image.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Real seconds to fetch one image.
FETCH_TIMEOUT = 10.0
#: How far an image's width/height may be from the aspect ratio's (rounding of sizes).
ASPECT_TOLERANCE = 0.02


#: What a reference image may be, by its content (an upload may also be a gif).
REFERENCE_KINDS = frozenset({"png", "jpeg", "webp"})


class ImageInfo(NamedTuple):
    kind: str  # png, jpeg, webp, gif
    width: int
    height: int


class StoredImages(Protocol):
    """The files uploaded to the mock: a URL of one is read from the store, never fetched."""

    def holds(self, url: str) -> bool:
        """Whether `url` is the URL of an uploaded file (by its path: the mock has many names)."""
        ...

    async def read(self, url: str) -> bytes | None:
        """The bytes of the file `url` names; None when there is none (expired, deleted)."""
        ...


def sniff(data: bytes) -> ImageInfo | None:
    """The type and pixel size of a PNG, JPEG, WebP or GIF from its bytes; None for anything
    else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageInfo("gif", width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return None


def _jpeg(data: bytes) -> ImageInfo | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return ImageInfo("jpeg", width, height)
        at += 2 + length
    return None


def _webp(data: bytes) -> ImageInfo | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageInfo("webp", width, height)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    return None


def _failure(code: str, reason: str) -> Failure:
    title = TASK_FAILURES[code][0].splitlines()[0]
    return Failure(code, f"{title}\n{reason}", 0)


def check_shape(info: ImageInfo, request: VideoRequest, model: ModelProfile) -> Failure | None:
    """Whether the image has the shape (or, `exact`, the pixels) of the request's frame."""
    width, height = model.frame_size(request.aspect_ratio, request.quality)
    if model.image_match == "exact":
        if (info.width, info.height) == (width, height):
            return None
        need = f"an image of exactly {width}x{height} pixels"
    else:
        want = width / height
        if abs(info.width / info.height - want) <= ASPECT_TOLERANCE * want:
            return None
        need = "an image of that shape"
    return _failure(
        "image_dimension_mismatch",
        f"The reference image is {info.width}x{info.height}; aspect_ratio "
        f"{request.aspect_ratio} needs {need}. Crop or resize it to match.",
    )


class ImageChecker:
    """Fetches and checks a request's reference images."""

    def __init__(
        self,
        policy: CallbackPolicy,
        resolver: Resolver,
        *,
        ca_file: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        stored: StoredImages | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.ca_file = ca_file
        self.transport = transport
        self.stored = stored

    async def check(self, request: VideoRequest, model: ModelProfile) -> Failure | None:
        """The failure the request's images earn, if any (None: all fine, or none given)."""
        if not request.image_urls:
            return None
        async with self._client() as client:
            for url in request.image_urls:
                failure = await self._check_one(client, url, request, model)
                if failure is not None:
                    log.info("reference image %s: %s", url, failure.message.splitlines()[-1])
                    return failure
        return None

    async def _check_one(
        self, client: httpx.AsyncClient, url: str, request: VideoRequest, model: ModelProfile
    ) -> Failure | None:
        try:
            data = await self._fetch(client, url)
        except Unreadable as exc:
            return _failure(
                "image_processing_error",
                f"The reference image could not be read: {exc}. Use a directly accessible "
                "jpg, jpeg, png or webp URL of at most 10 MB.",
            )
        info = sniff(data)
        if info is None or info.kind not in REFERENCE_KINDS:
            return _failure(
                "image_processing_error",
                "The reference image is not a jpg, jpeg, png or webp image.",
            )
        return check_shape(info, request, model)

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> bytes:
        if self.stored is not None and self.stored.holds(url):
            data = await self.stored.read(url)
            if data is None:
                raise Unreadable("HTTP 404: no such uploaded file (it expires 72 h after upload)")
            if len(data) > MAX_IMAGE_BYTES:
                raise TooLarge("larger than 10 MB")
            return data
        return await fetch(client, url, self.policy, self.resolver, MAX_IMAGE_BYTES, "10 MB")

    def _client(self) -> httpx.AsyncClient:
        return fetching_client(self.ca_file, self.transport)


class Unreadable(Exception):
    """A URL whose content could not be fetched, saying why."""


class TooLarge(Unreadable):
    """A URL whose content is over the limit: refused as soon as it passes it."""


def fetching_client(
    ca_file: str | None, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """A client that fetches under the address checks: no redirects, no proxy from the
    environment, the CA file beside the system's."""
    import httpx

    return httpx.AsyncClient(
        transport=transport,
        verify=client_context(ca_file),
        follow_redirects=False,  # a redirect could lead past the address checks
        timeout=FETCH_TIMEOUT,
        trust_env=False,
    )


#: This thread's outbound TLS contexts, by CA file (`client_context`).
_contexts = threading.local()


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """The TLS context of outbound requests (fetches and callbacks): the system's CAs, and
    `ca_file`'s beside them. Made once per CA file and thread, and shared by that thread's
    clients: loading the system's CAs takes about 36 ms of CPU, which a create with a
    reference image, or a URL upload, would otherwise spend on every request. Not shared
    between threads (a test process may run servers in several): httpcore sets a context's
    ALPN protocols again on every connection it opens. A CA file changed on disk is read
    again by a new process."""
    made: dict[str | None, ssl.SSLContext] = _contexts.__dict__.setdefault("made", {})
    context = made.get(ca_file)
    if context is None:
        context = made[ca_file] = ssl.create_default_context()
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
    return context


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    policy: CallbackPolicy,
    resolver: Resolver,
    limit: int,
    limit_text: str,
) -> bytes:
    """The body `url` answers with, under the address policy, at most `limit` bytes
    (`limit_text` says it in words): Unreadable, saying why, for anything else; TooLarge as
    soon as the declared length or the bytes read pass the limit."""
    import httpx

    try:
        request = await pinned_request(client, "GET", url, policy, resolver)
        response = await client.send(request, stream=True)
    except PolicyViolation as exc:
        raise Unreadable(f"refused by policy: {exc.reason}") from None
    except (httpx.HTTPError, OSError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    try:
        if not 200 <= response.status_code < 300:
            raise Unreadable(f"HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"larger than {limit_text}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"larger than {limit_text}")
            chunks.append(chunk)
        return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    finally:
        await response.aclose()
