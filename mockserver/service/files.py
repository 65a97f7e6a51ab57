"""The files API: a file uploaded (as base64, as a multipart part, or from a URL), a key's quota
and list, a delete, and a file's bytes at its URL, which needs no key (the vendor's file URLs are
public links).

Each upload runs the vendor's steps in order: authentication and the rate limit, the quota
(checked before the body is read, and again as the store keeps the file), the body (refused as
soon as it passes the size limit), the names, the content (a jpeg, png, gif or webp image by its
bytes, whatever its name or a data URL says), then the store. Nothing is kept unless all pass.
A URL upload fetches under the callback address rules (`delivery.ssrf`, with `--callback-allow`),
over http too (the page: "Supports HTTP and HTTPS protocols").
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import random
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urlsplit

from ..delivery.images import ImageInfo, TooLarge, Unreadable, fetch, fetching_client, sniff
from ..domain.errors import Forbidden, InvalidRequest, MockError, NotFound, RequestTooLarge
from ..domain.files import (
    EXTENSIONS,
    FILE_ID_PREFIX,
    FILE_ID_SHAPE,
    MIME_TYPES,
    FileQuota,
    StoredFile,
    checked_file_name,
    checked_upload_path,
    file_id_in,
)
from ..storage.base import FileKept, NewFile
from .calls import BodyReader, Call
from .requests import whole_number

if TYPE_CHECKING:
    from .simulator import Simulator

#: The page size the vendor's client asks for by default, and the most its tool asks for.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_ALPHABET = string.ascii_lowercase + string.digits
_ACCEPTED = "only image/jpeg, image/png, image/gif and image/webp files are accepted"
#: What a data URL or a part may call a type the content has under another name.
_SYNONYMS = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


class Upload(NamedTuple):
    """A multipart upload as the HTTP layer read it."""

    #: the `file` part's bytes; None: the body has no part named `file`
    content: bytes | None
    #: the `file` part's own file name and Content-Type, as sent
    filename: str | None
    content_type: str | None
    #: the other parts, by name (`upload_path` or `uploadPath`, `file_name` or `fileName`)
    fields: Mapping[str, str]


#: Reads a multipart body (raising InvalidRequest for one that is not, RequestTooLarge past the
#: limit).
UploadReader = Callable[[], Awaitable[Upload]]


class FileIds:
    """`file_` and 20 lowercase alphanumerics: from the OS, or from a stream of their own under
    a seed (a seeded run draws the same ids, and uploads leave the tasks' draws alone)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(f"files-{seed}") if seed is not None else None

    def new(self) -> str:
        if self._rng is not None:
            return FILE_ID_PREFIX + "".join(self._rng.choices(_ALPHABET, k=20))
        return FILE_ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"File too large: at most {limit} bytes")


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"The body must be a JSON object, got {type(body).__name__}")
    return body


def decode_base64(value: object, limit: int) -> tuple[bytes, str | None]:
    """The bytes of `base64_data` (plain base64 or a data URL), and the type a data URL names."""
    param = "base64_data"
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(
            "base64_data is required: the file as base64, or as a data URL", param=param
        )
    text, declared = value.strip(), None
    if text[:5].lower() == "data:":
        head, comma, text = text.partition(",")
        if not comma or ";base64" not in head.lower():
            raise InvalidRequest(
                "base64_data: a data URL must read data:<type>;base64,<data>", param=param
            )
        declared = head[5:].split(";", 1)[0].strip().lower() or None
    compact = "".join(text.split())
    if len(compact) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", compact):
        raise InvalidRequest(
            "base64_data does not decode: only letters, digits, '+', '/' and '=' padding",
            param=param,
        )
    if len(compact.rstrip("=")) * 3 // 4 > limit:
        raise too_large(limit)
    try:
        content = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "base64_data does not decode: its '=' padding is misplaced", param=param
        ) from None
    return content, declared


def _is_text(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def checked_image(content: bytes, declared: str | None, param: str) -> ImageInfo:
    """The image the bytes are, which must be the type `declared` names (if it names one)."""
    info = sniff(content)
    if info is None or not (info.width and info.height):
        what = (
            "empty"
            if not content
            else "text, not an image"
            if _is_text(content)
            else "not an image of a known type"
        )
        raise InvalidRequest(f"Unsupported file: the content is {what}; {_ACCEPTED}", param=param)
    actual = MIME_TYPES[info.kind]
    if declared is not None and _SYNONYMS.get(declared, declared) != actual:
        raise InvalidRequest(
            f"The file's type says {declared}, but its content is {actual}: send the type the "
            "bytes are",
            param=param,
        )
    return info


def _url_name(url: str) -> str | None:
    """The last segment of a URL's path, if it is a plain file name."""
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        return checked_file_name(segment or None, "file_url")
    except InvalidRequest:
        return None


def _part_name(filename: str | None) -> str | None:
    """A part's file name without any folder a browser put before it."""
    if not filename:
        return None
    try:
        return checked_file_name(re.split(r"[\\/]", filename)[-1] or None, "file")
    except InvalidRequest:
        return None


class FileService:
    """The files API of one simulator (`Simulator.files`); its state is the simulator's store."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._ids = FileIds(sim.settings.seed)

    @property
    def limit(self) -> int:
        """The largest file taken, in bytes."""
        return self._sim.settings.max_upload_bytes

    async def _admit(self, call: Call) -> str:
        sim = self._sim
        await sim.catch_up()
        owner = call.owner = sim.admission.authenticate(call.authorization)
        await sim.admission.admit(owner)
        return owner

    async def _room(self, owner: str) -> None:
        """Refuse an upload the quota has no room for before its body is read."""
        max_files = self._sim.admission.profile(owner).max_files
        if await self._sim.store.count_files(owner, self._sim.now()) >= max_files:
            raise self._quota_full(max_files)

    @staticmethod
    def _quota_full(max_files: int) -> MockError:
        return Forbidden(
            f"File quota exceeded: {max_files} of {max_files} files are stored. Delete files "
            "to free quota"
        )

    # -- uploads --------------------------------------------------------------------------------

    async def upload_base64(self, call: Call, read_body: BodyReader) -> StoredFile:
        """`POST /api/v1/files/upload/base64`: `base64_data`, plain or a data URL."""
        owner = await self._admit(call)
        await self._room(owner)
        body = _object(await read_body())
        content, declared = decode_base64(body.get("base64_data"), self.limit)
        upload_path = checked_upload_path(body.get("upload_path"))
        file_name = checked_file_name(body.get("file_name"))
        info = checked_image(content, declared, "base64_data")
        return await self._keep(call, owner, content, info, upload_path, file_name, None)

    async def upload_stream(self, call: Call, read_form: UploadReader) -> StoredFile:
        """`POST /api/v1/files/upload/stream`: a multipart body with its `file` part."""
        owner = await self._admit(call)
        await self._room(owner)
        form = await read_form()
        if form.content is None:
            raise InvalidRequest(
                "No file: send multipart/form-data with the file in a part named 'file'",
                param="file",
            )
        fields = form.fields
        upload_path = checked_upload_path(fields.get("upload_path", fields.get("uploadPath")))
        file_name = checked_file_name(fields.get("file_name", fields.get("fileName")))
        declared = (form.content_type or "").split(";", 1)[0].strip().lower()
        # a part's own type counts when it names an image (application/octet-stream says nothing)
        info = checked_image(form.content, declared if declared[:6] == "image/" else None, "file")
        original = _part_name(form.filename)
        return await self._keep(call, owner, form.content, info, upload_path, file_name, original)

    async def upload_url(self, call: Call, read_body: BodyReader) -> StoredFile:
        """`POST /api/v1/files/upload/url`: the file at `file_url`, fetched now."""
        owner = await self._admit(call)
        await self._room(owner)
        body = _object(await read_body())
        url = body.get("file_url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidRequest(
                "file_url is required: the URL of a jpeg, png, gif or webp image", param="file_url"
            )
        upload_path = checked_upload_path(body.get("upload_path"))
        file_name = checked_file_name(body.get("file_name"))
        content = await self._fetch(url)
        info = checked_image(content, None, "file_url")
        return await self._keep(call, owner, content, info, upload_path, file_name, _url_name(url))

    async def _fetch(self, url: str) -> bytes:
        """The bytes at `url`: a file of this mock from its store, anything else fetched under
        the address rules, refused as soon as it passes the limit."""
        if self.holds(url):
            content = await self.read(url)
            if content is None:
                raise InvalidRequest(
                    "file_url names no uploaded file of this server (it expires 72 h after upload)",
                    param="file_url",
                )
            return content
        sim = self._sim
        callbacks = sim.callbacks
        policy = dataclasses.replace(callbacks.policy, allow_http=True)
        limit = self.limit
        async with fetching_client(sim.settings.callback_ca_file, callbacks.transport) as client:
            try:
                return await fetch(client, url, policy, callbacks.resolver, limit, f"{limit} bytes")
            except TooLarge:
                raise too_large(limit) from None
            except Unreadable as exc:
                raise InvalidRequest(
                    f"file_url could not be fetched: {exc}", param="file_url"
                ) from None

    async def _keep(
        self,
        call: Call,
        owner: str,
        content: bytes,
        info: ImageInfo,
        upload_path: str,
        file_name: str | None,
        original: str | None,
    ) -> StoredFile:
        if len(content) > self.limit:
            raise too_large(self.limit)
        sim = self._sim
        now = sim.now()
        max_files = sim.admission.profile(owner).max_files
        while True:
            file_id = self._ids.new()
            name = file_name or f"{file_id.removeprefix(FILE_ID_PREFIX)}.{EXTENSIONS[info.kind]}"
            file = StoredFile(
                file_id,
                owner,
                name,
                original or name,
                MIME_TYPES[info.kind],
                len(content),
                upload_path,
                now,
                call.base_url,
                info.width,
                info.height,
            )
            kept = await sim.store.add_file(NewFile(file, content, max_files, now))
            if kept is FileKept.ADDED:
                return file
            if kept is FileKept.QUOTA_FULL:
                raise self._quota_full(max_files)
            # an id drawn twice (a seeded run on a store that kept an earlier run's): again

    # -- the key's files ------------------------------------------------------------------------

    async def quota(self, call: Call) -> FileQuota:
        """`GET /api/v1/files/quota`."""
        owner = await self._admit(call)
        sim = self._sim
        max_files = sim.admission.profile(owner).max_files
        used = await sim.store.count_files(owner, sim.now())
        return FileQuota(used, max_files, max_files != sim.settings.profiles.default.max_files)

    async def list(
        self, call: Call, page: str | None, page_size: str | None
    ) -> tuple[int, list[StoredFile]]:
        """`GET /api/v1/files/list`: how many live files the key has, and a page of them,
        newest first."""
        owner = await self._admit(call)
        number = whole_number(page, "page", 1)
        size = whole_number(page_size, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        files = await self._sim.store.files(owner, self._sim.now())
        files.reverse()
        start = (number - 1) * size
        return len(files), files[start : start + size]

    async def delete(self, call: Call, file_id: str) -> None:
        """`DELETE /api/v1/files/{file_id}`: one of the key's live files."""
        owner = await self._admit(call)
        if not FILE_ID_SHAPE.fullmatch(file_id):
            raise InvalidRequest(
                "Invalid file ID: it is file_ and 6 to 128 letters, digits, '_' or '-'",
                param="file_id",
            )
        store = self._sim.store
        file = await store.get_file(file_id)
        if file is None or not file.live(self._sim.now()):
            raise NotFound("File not found or expired")
        if file.owner != owner:
            raise Forbidden("You don't have permission to delete this file")
        await store.delete_file(file_id)

    # -- a file's bytes -------------------------------------------------------------------------

    async def content(
        self, file_id: str, name: str | None = None
    ) -> tuple[StoredFile, bytes] | None:
        """A live file and its bytes, by its id (and the name its URL gives it), for anyone."""
        store = self._sim.store
        file = await store.get_file(file_id)
        if file is None or not file.live(self._sim.now()):
            return None
        if name is not None and name != file.file_name:
            return None
        data = await store.file_content(file_id)
        return None if data is None else (file, data)

    def holds(self, url: str) -> bool:
        """Whether `url`'s path is that of a file's URL on the mock (whatever the host: a
        client may reach the mock by several names)."""
        return file_id_in(urlsplit(url).path) is not None

    async def read(self, url: str) -> bytes | None:
        """The bytes of the live file a URL names (`delivery.images.StoredImages`)."""
        path = urlsplit(url).path
        file_id = file_id_in(path)
        if file_id is None:
            return None
        found = await self.content(file_id, unquote(path.rsplit("/", 1)[-1]))
        return None if found is None else found[1]
