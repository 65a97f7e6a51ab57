"""The files API (the vendor's host `files-api.evolink.ai`, served here on the mock's own
origin): each handler reads the request, makes one call to the simulator's files and renders the
answer in the files API's envelope `{"success", "code", "msg", "data"}`. Also what the vendor's
file host serves: a file's bytes at its URL and its download link, for anyone.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import InvalidRequest, NotFound, RequestTooLarge
from ..domain.files import StoredFile
from ..service.files import Upload, too_large
from ..spec import DELETE_FILE, FILES_QUOTA, LIST_FILES, UPLOAD_BASE64, UPLOAD_STREAM, UPLOAD_URL
from .errors import journal
from .requests import _read_body, header, read_json, simulator, vendor_call, worlds
from .vendor import JSONBytes

#: Room for what surrounds a file in its body: JSON's quotes and names, multipart's headers.
BODY_OVERHEAD = 64 * 1024
#: Paths beside `/api/v1/files/{file_id}` whose other methods are not a delete of a file.
_SIBLINGS = {"list": "GET", "quota": "GET"}


def _uploaded(file: StoredFile) -> dict[str, object]:
    data = file.to_json()
    return {"success": True, "code": 200, "msg": "File uploaded successfully", "data": data}


def _base64_limit(limit: int) -> int:
    """The body a file of `limit` bytes makes as base64 in JSON."""
    return -(-limit // 3) * 4 + BODY_OVERHEAD


async def upload_base64(request: Request) -> Response:
    call = vendor_call(request, UPLOAD_BASE64, links=True)
    files = simulator(request).files
    limit = files.limit
    body_limit = _base64_limit(limit)

    async def read() -> object:
        try:
            return await read_json(request, body_limit)
        except RequestTooLarge:
            raise too_large(limit) from None

    file = await files.upload_base64(call, read)
    await journal(request, 200, call)
    return JSONBytes(orjson.dumps(_uploaded(file)), call.request_id)


async def upload_url(request: Request) -> Response:
    call = vendor_call(request, UPLOAD_URL, links=True)
    files = simulator(request).files
    file = await files.upload_url(call, lambda: read_json(request, BODY_OVERHEAD))
    await journal(request, 200, call)
    return JSONBytes(orjson.dumps(_uploaded(file)), call.request_id)


async def upload_stream(request: Request) -> Response:
    call = vendor_call(request, UPLOAD_STREAM, links=True)
    files = simulator(request).files
    limit = files.limit

    async def read() -> Upload:
        boundary = _boundary(header(request, b"content-type") or "")
        try:
            body = await _read_body(request, limit + BODY_OVERHEAD)
        except RequestTooLarge:
            raise too_large(limit) from None
        return read_form(body, boundary)

    file = await files.upload_stream(call, read)
    await journal(request, 200, call)
    return JSONBytes(orjson.dumps(_uploaded(file)), call.request_id)


async def quota(request: Request) -> Response:
    call = vendor_call(request, FILES_QUOTA)
    found = await simulator(request).files.quota(call)
    await journal(request, 200, call)
    body = {"success": True, "code": 200, "data": found.to_json()}
    return JSONBytes(orjson.dumps(body), call.request_id)


async def list_files(request: Request) -> Response:
    call = vendor_call(request, LIST_FILES)
    params = request.query_params
    total, page = await simulator(request).files.list(
        call, params.get("page"), params.get("pageSize")
    )
    await journal(request, 200, call)
    data = {"total": total, "files": [file.to_json() for file in page]}
    body = {"success": True, "code": 200, "msg": "success", "data": data}
    return JSONBytes(orjson.dumps(body), call.request_id)


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    if file_id in _SIBLINGS:  # `/api/v1/files/list` is a resource of its own, not a file
        raise HTTPException(405, headers={"Allow": _SIBLINGS[file_id]})
    call = vendor_call(request, DELETE_FILE)
    await simulator(request).files.delete(call, file_id)
    await journal(request, 200, call)
    body = {"success": True, "code": 200, "msg": "File deleted successfully"}
    return JSONBytes(orjson.dumps(body), call.request_id)


# -- what the file host serves ------------------------------------------------------------------


async def file_content(request: Request) -> Response:
    """A file's bytes at its URL (`file_url`), while it lives."""
    params = request.path_params
    found = await worlds(request).file_content(params["file_id"], params["name"])
    if found is None:
        raise NotFound("No such file, or it expired 72 hours after its upload")
    file, data = found
    return Response(data, media_type=file.mime_type)


async def download(request: Request) -> Response:
    """A file's bytes as a download (`download_url`), while it lives."""
    found = await worlds(request).file_content(request.path_params["file_id"])
    if found is None:
        raise NotFound("No such file, or it expired 72 hours after its upload")
    file, data = found
    disposition = f"attachment; filename*=UTF-8''{quote(file.file_name, safe='')}"
    return Response(data, media_type=file.mime_type, headers={"content-disposition": disposition})


# -- multipart/form-data ------------------------------------------------------------------------

_NOT_MULTIPART = "Send multipart/form-data with the file in a part named 'file'"
_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _params(value: str) -> dict[str, str]:
    """The `; name=value` parameters of a header value, unquoted."""
    found = {}
    for name, raw in _PARAM.findall(value):
        text = raw.strip()
        if text.startswith('"'):
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        found[name.lower()] = text
    return found


def _boundary(content_type: str) -> bytes:
    media, _, rest = content_type.partition(";")
    boundary = _params(";" + rest).get("boundary", "")
    if media.strip().lower() != "multipart/form-data" or not 1 <= len(boundary) <= 70:
        raise InvalidRequest(f"{_NOT_MULTIPART}; got Content-Type {media.strip() or 'none'}")
    return boundary.encode("latin-1")


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(f"The multipart body is malformed: {why}")


def read_form(body: bytes, boundary: bytes) -> Upload:
    """The parts of a multipart/form-data body (RFC 7578): the `file` part and the fields."""
    delimiter = b"--" + boundary
    at = body.find(delimiter)
    if at < 0:
        raise _malformed("no part starts with its boundary")
    rest = body[at + len(delimiter) :]
    file: tuple[bytes, str | None, str | None] | None = None
    fields: dict[str, str] = {}
    while not rest.startswith(b"--"):
        if not rest.startswith(b"\r\n"):
            raise _malformed("a boundary is not followed by a line break")
        end = rest.find(b"\r\n" + delimiter)
        if end < 0:
            raise _malformed("the last part is not closed by its boundary")
        head, blank, content = rest[2:end].partition(b"\r\n\r\n")
        if not blank:
            raise _malformed("a part has no blank line after its headers")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        disposition = _params(";" + headers.get("content-disposition", "").partition(";")[2])
        name = disposition.get("name")
        if name == "file":
            if file is not None:
                raise InvalidRequest("One file per request: the body has two parts named 'file'")
            filename = disposition.get("filename")
            file = (content, filename, headers.get("content-type"))
        elif name and "filename" not in disposition:  # a field (other files are not read)
            try:
                fields[name] = content.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"The part {name!r} is not UTF-8 text", param=name) from None
        rest = rest[end + 2 + len(delimiter) :]
    if file is None:
        return Upload(None, None, None, fields)
    return Upload(*file, fields)


ROUTES = [
    Route("/api/v1/files/upload/base64", upload_base64, methods=["POST"]),
    Route("/api/v1/files/upload/stream", upload_stream, methods=["POST"]),
    Route("/api/v1/files/upload/url", upload_url, methods=["POST"]),
    Route("/api/v1/files/quota", quota, methods=["GET"]),
    Route("/api/v1/files/list", list_files, methods=["GET"]),
    Route("/api/v1/files/download/{file_id}", download, methods=["GET"]),
    Route("/api/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/files/{file_id}/{name}", file_content, methods=["GET"]),
]
