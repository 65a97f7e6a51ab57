"""Uploaded files (the vendor's files API): what is kept of one, when it expires, what a key's
quota shows, and the names a caller may give it. Pure: no storage, no HTTP.

A file is live from its upload until 72 simulated hours later (the vendor's pages: "Files will
expire after 72 hours"); then it is gone everywhere at once: its URL, the list, the quota.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import InvalidRequest
from .types import JSONObject

#: Simulated seconds a file lives after its upload.
FILE_TTL = 72 * 3600.0
#: Files a key may keep at once, unless `[defaults]` or its `[keys."KEY"]` says `max_files`.
DEFAULT_MAX_FILES = 100
#: The largest upload by default: the vendor's client allows 100 MB; a reference image is at most
#: 10 MB, and a mock holds every file in its store (`serve --max-upload-mb` raises it).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
FILE_ID_PREFIX = "file_"
#: What the vendor's client accepts as a file id (EvoLinkAI/evolink-mcp, `tools/delete-file.ts`).
FILE_ID_SHAPE = re.compile(r"file_[A-Za-z0-9_-]{6,128}")
#: The image types the pages accept, by the kind `delivery.images.sniff` names.
MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp"}
#: Where an upload goes when it names no `upload_path` ("automatically categorized by type").
DEFAULT_UPLOAD_PATH = "images"
#: The vendor's client's own limits on the two names (`services/upload-policy.ts`).
MAX_UPLOAD_PATH = 256
MAX_FILE_NAME = 255
#: Where the mock serves a file's bytes, and the download link beside it.
CONTENT_PREFIX = "/files/"
DOWNLOAD_PREFIX = "/api/v1/files/download/"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def iso_time(at: float) -> str:
    """Simulated unix seconds as the pages write times: ISO 8601 with an offset (UTC here)."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One uploaded file, without its bytes (the store keeps those beside it)."""

    id: str
    owner: str
    file_name: str
    original_name: str
    mime_type: str
    size: int
    upload_path: str
    #: the simulated time of the upload
    uploaded: float
    #: where its links point: the base URL the upload came in at
    base_url: str
    width: int
    height: int

    @property
    def expires(self) -> float:
        return self.uploaded + FILE_TTL

    def live(self, now: float) -> bool:
        return now < self.expires

    @property
    def path(self) -> str:
        """The path its URL serves its bytes at, on the mock."""
        return f"{CONTENT_PREFIX}{self.id}/{quote(self.file_name, safe='')}"

    def to_json(self) -> JSONObject:
        """The pages' `FileData`."""
        return {
            "file_id": self.id,
            "file_name": self.file_name,
            "original_name": self.original_name,
            "file_size": self.size,
            "mime_type": self.mime_type,
            "upload_path": self.upload_path,
            "file_url": f"{self.base_url}{self.path}",
            "download_url": f"{self.base_url}{DOWNLOAD_PREFIX}{self.id}",
            "upload_time": iso_time(self.uploaded),
            "expires_at": iso_time(self.expires),
        }


def file_id_in(path: str) -> str | None:
    """The file id of a path the mock serves a file at (`/files/ID/NAME`), if it is one."""
    if not path.startswith(CONTENT_PREFIX):
        return None
    file_id, slash, name = path[len(CONTENT_PREFIX) :].partition("/")
    if not slash or not name or "/" in name or not FILE_ID_SHAPE.fullmatch(file_id):
        return None
    return file_id


@dataclass(frozen=True, slots=True)
class FileQuota:
    """A key's quota as `GET /api/v1/files/quota` shows it."""

    used: int
    max_files: int
    #: set for this key alone (`[keys."KEY"] max_files`), not the default
    custom: bool

    @property
    def remaining(self) -> int:
        return max(0, self.max_files - self.used)

    def to_json(self) -> JSONObject:
        """The quota page's `QuotaData`."""
        return {
            "user_group": "default",
            "used_files": self.used,
            "max_files": self.max_files,
            "remain_files": self.remaining,
            "is_custom": self.custom,
            "quota_reason": "max_files set for this key in --config" if self.custom else "",
        }


def _text(value: Any, param: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a string", param=param)
    if len(value) > limit:
        raise InvalidRequest(f"{param} is {len(value)} characters; at most {limit}", param=param)
    if _CONTROL.search(value):
        raise InvalidRequest(f"{param} has a control character", param=param)
    return value


def checked_upload_path(value: Any) -> str:
    """A caller's `upload_path` as stored: a relative path of plain segments, or the default."""
    text = _text(value, "upload_path", MAX_UPLOAD_PATH)
    if not text:
        return DEFAULT_UPLOAD_PATH
    if text.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", text):
        raise InvalidRequest("upload_path must be a relative path", param="upload_path")
    segments = [s for s in re.split(r"[\\/]+", text) if s]
    if any(s in (".", "..") for s in segments):
        raise InvalidRequest("upload_path must not climb out with '..'", param="upload_path")
    return "/".join(segments) or DEFAULT_UPLOAD_PATH


def checked_file_name(value: Any, param: str = "file_name") -> str | None:
    """A caller's file name, if given: a plain name, no path."""
    text = _text(value, param, MAX_FILE_NAME)
    if not text:
        return None
    if "/" in text or "\\" in text or text in (".", ".."):
        raise InvalidRequest(f"{param} must be a plain file name, without a path", param=param)
    return text
