"""`Client` and `AsyncClient`: the same API over `httpx.Client` and `httpx.AsyncClient`.

What both share, and that does no I/O (settings, local checks, building requests, reading
responses, the decisions of the retry and wait loops), is in `_BaseClient` and the helpers beside
it; the two subclasses only send and sleep.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import random as _random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import anyio
import httpx

from ._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    BATCH_MAX_IDS,
    CALLBACK_URL_MAX_LENGTH,
    CHOICES,
    CREATE_PATH,
    CREDITS_PATH,
    DEFAULT_BASE_URL,
    DEFAULT_FILES_BASE_URL,
    FILES_BASE_URL_ENV,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_REPLAYED_HEADER,
    IMAGE_URLS_MAX_ITEMS,
    LIST_PAGE_MAX,
    LIST_PAGE_SIZE_MAX,
    LIST_STATUSES,
    LIST_TYPES,
    MODEL,
    MODELS,
    MODELS_PATH,
    PROMPT_MAX_LENGTH,
    TASK_ID_PREFIX,
    TASK_PATH,
    TASKS_BATCH_PATH,
    TASKS_PATH,
    UPLOAD_BASE64_PATH,
    UPLOAD_MAX_BYTES,
    UPLOAD_STREAM_PATH,
    UPLOAD_URL_PATH,
)
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    TaskFailedError,
    TaskNotReadyError,
    UnexpectedResponseError,
    ValidationError,
    WaitTimeoutError,
    error_from_response,
)
from ._models import (
    Credits,
    Model,
    Task,
    TaskPage,
    TaskStatus,
    TaskSummary,
    UploadedFile,
    models_from,
    tasks_from_batch,
)
from ._retry import Attempts, RetryPolicy, parse_retry_after

try:
    __version__ = metadata.version("evolink-sora-mock")
except metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree
    __version__ = "0+unknown"

#: what a call's 2xx body is parsed into
_Body = TypeVar("_Body")

log = logging.getLogger("evolink.client")

Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
ProgressCallback = Callable[[Task], object]
StrPath = str | os.PathLike[str]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: The vendor advises 1-2 s between requests; polls then back off to the ceiling.
POLL_INTERVAL = 2.0
MAX_POLL_INTERVAL = 15.0
POLL_BACKOFF = 1.5
#: A 12 s 1080p video can take several minutes; past this, wait() gives up.
WAIT_TIMEOUT = 15 * 60.0
_CHUNK = 64 * 1024


def _resolve_api_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key:
        raise ConfigurationError(f"no API key: pass api_key=... or set {API_KEY_ENV}")
    # checked here so that httpx never echoes a malformed key back in an error
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise ConfigurationError("the API key has spaces or non-printable characters")
    return key


def _checked_base_url(url: str, what: str = "base URL") -> str:
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"the {what} must be http(s)://host[:port], got {url!r}")
    return url


def _resolve_base_url(base_url: str | None) -> str:
    return _checked_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)


def _resolve_files_base_url(files_base_url: str | None, base_url: str) -> str:
    """Where the files API is: as given, else the vendor's files host for the vendor's API, and
    the API's own base URL for any other server (the mock serves both on one origin)."""
    given = files_base_url or os.environ.get(FILES_BASE_URL_ENV)
    if given:
        return _checked_base_url(given, "files base URL")
    return DEFAULT_FILES_BASE_URL if base_url == DEFAULT_BASE_URL else base_url


def _check_idempotency_key(key: object) -> str:
    """The caller's key, if a server takes it and HTTP carries it as it is; else ValidationError."""
    param = "idempotency_key"
    if not isinstance(key, str) or not key:
        raise ValidationError("idempotency_key must be a non-empty string", param=param)
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationError(
            f"idempotency_key is {len(key)} characters; at most {IDEMPOTENCY_KEY_MAX_LENGTH}",
            param=param,
        )
    for position, char in enumerate(key):
        if not " " <= char <= "~":
            raise ValidationError(
                f"idempotency_key has {char!r} at position {position}; "
                "only printable ASCII (0x20-0x7E) is allowed",
                param=param,
            )
    # HTTP drops the spaces around a field value (h11 refuses to send them)
    if key[0] == " " or key[-1] == " ":
        raise ValidationError("idempotency_key starts or ends with a space", param=param)
    return key


def _is_web_url(value: object, schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str) or value != value.strip():
        return False
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.hostname)


def build_create_body(
    prompt: str,
    *,
    model: str = MODEL,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    quality: str | None = None,
    image_urls: Sequence[str] | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """The create request body, checked against the spec's enums and limits.

    Raises ValidationError (nothing is sent) on the first value the API would refuse.
    """
    if not isinstance(prompt, str):
        raise ValidationError("prompt must be a string", param="prompt")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            "prompt is not valid Unicode (lone surrogate)", param="prompt"
        ) from None
    if len(prompt) > PROMPT_MAX_LENGTH:
        raise ValidationError(
            f"prompt is {len(prompt)} characters; at most {PROMPT_MAX_LENGTH}", param="prompt"
        )
    if model not in MODELS:
        raise ValidationError(f"model must be one of {list(MODELS)}, got {model!r}", param="model")
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    fields = CHOICES[model]
    given = (("aspect_ratio", aspect_ratio), ("duration", duration), ("quality", quality))
    for name, value in given:
        if value is None:
            continue
        allowed = fields.get(name)
        if allowed is None:  # the server would not read it: say so rather than send it
            raise ValidationError(f"{name} is not a field of {model}", param=name)
        # True == 1 in Python; a JSON boolean is never a duration
        if isinstance(value, bool) or value not in allowed:
            raise ValidationError(
                f"{name} must be one of {list(allowed)}, got {value!r}", param=name
            )
        body[name] = value
    if image_urls is not None:
        if isinstance(image_urls, str):
            raise ValidationError(
                "image_urls must be a list of URLs, not a string", param="image_urls"
            )
        urls = list(image_urls)
        if len(urls) > IMAGE_URLS_MAX_ITEMS:
            raise ValidationError(
                f"image_urls has {len(urls)} items; at most {IMAGE_URLS_MAX_ITEMS}",
                param="image_urls",
            )
        for url in urls:
            if not _is_web_url(url, ("http", "https")):
                raise ValidationError(
                    f"image_urls: not an http(s) URL: {url!r}", param="image_urls"
                )
        body["image_urls"] = urls
    if callback_url is not None:
        if not _is_web_url(callback_url, ("https",)):
            raise ValidationError(
                f"callback_url must be an https:// URL, got {callback_url!r:.100}",
                param="callback_url",
            )
        if len(callback_url) > CALLBACK_URL_MAX_LENGTH:
            raise ValidationError(
                f"callback_url is {len(callback_url)} characters; "
                f"at most {CALLBACK_URL_MAX_LENGTH}",
                param="callback_url",
            )
        body["callback_url"] = callback_url
    return body


class _TransportErrors:
    """httpx's exceptions never leave the client: they become APIConnectionError/APITimeoutError.

    Stateless, so one instance serves every `with` block: a class rather than a generator
    context manager, which costs a microsecond more on every request.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if isinstance(exc, httpx.TimeoutException):
            raise APITimeoutError(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, httpx.RequestError):
            raise APIConnectionError(f"{type(exc).__name__}: {exc}") from exc


_map_transport_errors = _TransportErrors()


def _status_error(response: httpx.Response) -> APIStatusError:
    """The typed error of a response whose body has been read."""
    return error_from_response(
        response.status_code,
        response.reason_phrase,
        response.headers,
        response.text,
        retry_after=parse_retry_after(response.headers.get("retry-after"), time.time()),
    )


def _read(response: httpx.Response, parse: Callable[..., _Body]) -> _Body:
    """The 2xx body parsed by `parse(data, raw=...)`; the documented error otherwise."""
    if response.status_code >= 400:
        raise _status_error(response)
    raw = response.text
    try:
        data = response.json()
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise UnexpectedResponseError(
            f"HTTP {response.status_code} with a body that is not JSON",
            raw=raw,
            status=response.status_code,
        ) from None
    try:
        return parse(data, raw=raw)
    except UnexpectedResponseError as exc:
        exc.status = response.status_code
        raise


def _read_task(response: httpx.Response) -> Task:
    return _read(response, Task.from_json)


def _read_credits(response: httpx.Response) -> Credits:
    return _read(response, Credits.from_json)


def _read_page(response: httpx.Response) -> TaskPage:
    return _read(response, TaskPage.from_json)


def _read_batch(response: httpx.Response) -> list[Task]:
    return _read(response, tasks_from_batch)


def _read_models(response: httpx.Response) -> list[Model]:
    return _read(response, models_from)


def _read_uploaded(response: httpx.Response) -> UploadedFile:
    return _read(response, UploadedFile.from_json)


#: What an upload sends: the path it goes to, and its JSON `body` or (a multipart body) httpx's
#: `files` and `data`.
_Upload = tuple[str, dict[str, Any]]


def _upload_names(upload_path: str | None, file_name: str | None) -> dict[str, str]:
    names = {}
    for param, value in (("upload_path", upload_path), ("file_name", file_name)):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{param} must be a non-empty string", param=param)
        names[param] = value
    return names


def _upload_of(source: object) -> str | bytes | Path:
    """What `upload_file` was given: a URL, the bytes, or a path to read (checked, not read)."""
    if isinstance(source, bytes | bytearray | memoryview):
        content = bytes(source)
        if not content or len(content) > UPLOAD_MAX_BYTES:
            raise ValidationError(
                f"the file must be 1 byte to {UPLOAD_MAX_BYTES} bytes, got {len(content)}",
                param="file",
            )
        return content
    if isinstance(source, str) and _is_web_url(source, ("http", "https")):
        return source
    if not isinstance(source, str | os.PathLike):
        raise ValidationError(
            f"upload_file takes a path, bytes or an http(s) URL, got {type(source).__name__}",
            param="file",
        )
    path = Path(source)
    if not path.is_file():
        raise ValidationError(f"no such file: {str(path)!r}", param="file")
    size = path.stat().st_size
    if not 0 < size <= UPLOAD_MAX_BYTES:
        raise ValidationError(
            f"the file must be 1 byte to {UPLOAD_MAX_BYTES} bytes, got {size}", param="file"
        )
    return path


def _upload_request(
    source: str | bytes, name: str | None, upload_path: str | None, file_name: str | None
) -> _Upload:
    """An upload of `source`: a URL the server fetches, or bytes (`name`: the file's own name,
    sent as a multipart part; without one, as base64)."""
    names = _upload_names(upload_path, file_name)
    if isinstance(source, str):
        return UPLOAD_URL_PATH, {"body": {"file_url": source, **names}}
    if name is None:
        data = base64.b64encode(source).decode("ascii")
        return UPLOAD_BASE64_PATH, {"body": {"base64_data": data, **names}}
    part = ("file", (name, source, "application/octet-stream"))
    return UPLOAD_STREAM_PATH, {"files": [part], "data": names}


def _read_created(response: httpx.Response) -> Task:
    """The created task, `replayed` if the server answered with the key's first answer."""
    task = _read(response, Task.from_json)
    if response.headers.get(IDEMPOTENCY_REPLAYED_HEADER, "").strip().lower() == "true":
        return dataclasses.replace(task, replayed=True)
    return task


def _check_length(response: httpx.Response, written: int) -> None:
    declared = response.headers.get("content-length", "")
    if (
        "content-encoding" not in response.headers
        and declared.isdigit()
        and int(declared) != written
    ):
        raise APIConnectionError(f"download truncated: got {written} of {declared} bytes")


def _result_url(task: Task) -> str:
    if task.status is TaskStatus.FAILED:
        raise TaskFailedError(task)
    if task.status is not TaskStatus.COMPLETED:
        raise TaskNotReadyError(task)
    if task.result_url is None:
        raise UnexpectedResponseError(
            f"task {task.id} is completed but has no results", raw=json.dumps(task.to_json())
        )
    return task.result_url


#: O_BINARY where the platform has it (Windows): the bytes as they came
_O_BINARY: int = getattr(os, "O_BINARY", 0)


@contextlib.contextmanager
def _atomic_target(path: StrPath) -> Iterator[tuple[Path, Any]]:
    """A temp file beside `path`, renamed onto it on success and removed on any failure. It is
    made as `open(path, "wb")` would make it (mode 0o666 less the umask), not 0o600 as
    `tempfile.mkstemp` makes its files: a downloaded video is no secret."""
    target = Path(path)
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits drawn twice
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            yield target, file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _Waiter:
    """The decisions of one wait(): when to poll again, when to stop. No I/O."""

    def __init__(
        self,
        timeout: float,
        poll_interval: float,
        max_poll_interval: float,
        clock: Callable[[], float],
        on_progress: ProgressCallback | None,
    ) -> None:
        if timeout < 0 or poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ValueError("need timeout >= 0 and 0 < poll_interval <= max_poll_interval")
        self._timeout = timeout
        self._interval = poll_interval
        self._max_interval = max_poll_interval
        self._clock = clock
        self._deadline = clock() + timeout
        self._on_progress = on_progress

    def observe(self, task: Task) -> float | None:
        """After a poll: None if `task` completed, else the seconds to sleep before the next."""
        if self._on_progress is not None:
            self._on_progress(task)
        if task.status is TaskStatus.COMPLETED:
            return None
        if task.status is TaskStatus.FAILED:
            raise TaskFailedError(task)
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise WaitTimeoutError(task, self._timeout)
        delay = min(self._interval, remaining)
        self._interval = min(self._interval * POLL_BACKOFF, self._max_interval)
        return delay


def _list_query(
    status: str | None, task_type: str | None, model: str | None, page_size: int
) -> dict[str, str]:
    """A listing's filters, checked against the spec's values (ValidationError, nothing sent)."""
    query: dict[str, str] = {}
    for name, value, allowed in (
        ("status", status, LIST_STATUSES),
        ("type", task_type, LIST_TYPES),
    ):
        if value is None:
            continue
        if value not in allowed:
            raise ValidationError(
                f"{name} must be one of {list(allowed)}, got {value!r}", param=name
            )
        query[name] = value
    if model is not None:
        if not isinstance(model, str) or not model:
            raise ValidationError("model must be a non-empty string", param="model")
        query["model"] = model
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= LIST_PAGE_SIZE_MAX
    ):
        raise ValidationError(
            f"page_size must be a whole number from 1 to {LIST_PAGE_SIZE_MAX}, got {page_size!r}",
            param="page_size",
        )
    query["page_size"] = str(page_size)
    return query


def _batches(task_ids: Sequence[str]) -> list[list[str]]:
    """The ids, each once in the order given, in calls of at most BATCH_MAX_IDS; ValidationError
    (nothing sent) for an id the API would refuse."""
    if isinstance(task_ids, str):
        raise ValidationError("task_ids must be a list of task ids, not a string", param="task_ids")
    ids = list(dict.fromkeys(task_ids))
    for task_id in ids:
        if not isinstance(task_id, str) or not task_id.startswith(TASK_ID_PREFIX):
            raise ValidationError(
                f"task_ids: not a task id (they start with {TASK_ID_PREFIX!r}): {task_id!r:.80}",
                param="task_ids",
            )
    return [ids[at : at + BATCH_MAX_IDS] for at in range(0, len(ids), BATCH_MAX_IDS)]


class _Pager:
    """The decisions of one list_tasks(): which page to ask for, when to stop. No I/O.

    It stops at `limit` tasks, at the page past `total`, at an empty page, and at the spec's
    last page, so a server that keeps answering full pages cannot keep it asking; a task that a
    new one pushed onto the next page is kept once."""

    def __init__(self, limit: int | None, query: dict[str, str]) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValidationError(
                f"limit must be a whole number >= 1, got {limit!r}", param="limit"
            )
        self._limit = limit
        self._query = query
        self._seen: dict[str, TaskSummary] = {}
        self.page = 1

    @property
    def path(self) -> str:
        return f"{TASKS_PATH}?{urlencode({**self._query, 'page': str(self.page)})}"

    @property
    def tasks(self) -> list[TaskSummary]:
        return list(self._seen.values())

    def take(self, page: TaskPage) -> bool:
        """After a page: whether to ask for the next one."""
        for task in page.tasks:
            if self._limit is not None and len(self._seen) >= self._limit:
                break
            self._seen.setdefault(task.id, task)
        self.page += 1
        full = self._limit is not None and len(self._seen) >= self._limit
        past = (self.page - 1) * page.page_size >= page.total
        return bool(page.tasks) and not full and not past and self.page <= LIST_PAGE_MAX


class _Retrying:
    """The attempts of one call: each is a `with` block, in a loop that sleeps `delay` between them.

    An APIStatusError or APIConnectionError that the policy retries ends the block quietly, with
    `delay` set and the retry logged; any other error, or one past the policy's limits, leaves it.
    """

    __slots__ = ("_action", "_attempts", "_target", "delay")

    def __init__(self, attempts: Attempts, action: str, target: str) -> None:
        self._attempts = attempts
        self._action = action
        self._target = target
        #: seconds to sleep before the next attempt, set when a block's error is retried
        self.delay = 0.0

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        if not isinstance(exc, APIStatusError | APIConnectionError):
            return False
        delay = self._attempts.delay_before_retry(exc)
        if delay is None:
            return False
        log.warning(
            "retrying %s %s in %.2f s (attempt %d) after: %s",
            self._action,
            self._target,
            delay,
            self._attempts.count,
            exc,
        )
        self.delay = delay
        return True


class _BaseClient:
    """What `Client` and `AsyncClient` share, none of it I/O; each subclass sends and sleeps."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        retry: RetryPolicy | None,
        idempotency_keys: bool,
        clock: Callable[[], float],
        random: Callable[[], float],
        files_base_url: str | None = None,
    ) -> None:
        self._api_key = _resolve_api_key(api_key)
        self.base_url = _resolve_base_url(base_url)
        #: where uploads go (`upload_file`)
        self.files_base_url = _resolve_files_base_url(files_base_url, self.base_url)
        self.retry = retry or RetryPolicy()
        #: whether each create carries an `Idempotency-Key` (and is retried under it)
        self.idempotency_keys = idempotency_keys
        self._clock = clock
        self._random = random

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        """The headers of every request, the result downloads' included."""
        return {
            "User-Agent": f"evolink-client/{__version__}",
            "Accept": "application/json",
        }

    def _build_request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **content: Any,
    ) -> httpx.Request:
        """A request to the API: `body` as JSON (or `content`, httpx's `files` and `data`), and
        the key (which only API requests carry)."""
        headers = {"Authorization": f"Bearer {self._api_key}", **(headers or {})}
        return self._http.build_request(method, path, json=body, headers=headers, **content)

    def _upload(
        self, source: str | bytes, name: str | None, upload_path: str | None, file_name: str | None
    ) -> tuple[str, dict[str, Any]]:
        """The URL an upload goes to, and what it sends."""
        path, content = _upload_request(source, name, upload_path, file_name)
        return self.files_base_url + path, content

    def _create_headers(self, idempotency_key: str | None) -> dict[str, str]:
        """The headers of one create, the same on each of its attempts: its `Idempotency-Key`,
        the caller's or a new one, unless the client sends none."""
        if idempotency_key is not None:
            if not self.idempotency_keys:
                raise ValidationError(
                    "idempotency_key was given to a client made with idempotency_keys=False",
                    param="idempotency_key",
                )
            return {IDEMPOTENCY_KEY_HEADER: _check_idempotency_key(idempotency_key)}
        if not self.idempotency_keys:
            return {}
        return {IDEMPOTENCY_KEY_HEADER: uuid.uuid4().hex}

    def _attempts(self, *, idempotent: bool) -> Attempts:
        return Attempts(self.retry, idempotent=idempotent, clock=self._clock, random=self._random)

    @staticmethod
    def _task_path(task_id: str) -> str:
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValidationError("task_id must be a non-empty string", param="task_id")
        return TASK_PATH.format(task_id=quote(task_id, safe=""))


class Client(_BaseClient):
    """A blocking client of the Evolink video API.

    >>> with Client() as client:  # doctest: +SKIP
    ...     task = client.wait(client.create_video("A cat playing piano", duration=4))
    ...     client.download(task, "cat.mp4")
    """

    _http: httpx.Client

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        idempotency_keys: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        files_base_url: str | None = None,
    ) -> None:
        super().__init__(api_key, base_url, retry, idempotency_keys, clock, random, files_base_url)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=self._headers()
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool,
        read: Callable[[httpx.Response], _Body],
        **content: Any,
    ) -> _Body:
        retrying = _Retrying(self._attempts(idempotent=idempotent), method, path)
        while True:
            with retrying:
                request = self._build_request(method, path, body, headers, **content)
                with _map_transport_errors:
                    response = self._http.send(request)
                log.debug("%s %s -> %d", method, path, response.status_code)
                return read(response)
            self._sleep(retrying.delay)

    def create_video(
        self,
        prompt: str,
        *,
        model: str = MODEL,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        quality: str | None = None,
        image_urls: Sequence[str] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Start a video generation task. Checked locally first; see client/README.md, "Retries".

        The request carries `idempotency_key`, or a new key, so that a retry cannot make a second
        task; the returned task's `replayed` says the server answered with the key's first task.
        """
        body = build_create_body(
            prompt,
            model=model,
            aspect_ratio=aspect_ratio,
            duration=duration,
            quality=quality,
            image_urls=image_urls,
            callback_url=callback_url,
        )
        headers = self._create_headers(idempotency_key)
        return self._call(
            "POST",
            CREATE_PATH,
            body=body,
            headers=headers,
            idempotent=IDEMPOTENCY_KEY_HEADER in headers,
            read=_read_created,
        )

    def get_task(self, task_id: str) -> Task:
        """The task's current state. A failed task is returned, not raised: see wait()."""
        return self._call("GET", self._task_path(task_id), idempotent=True, read=_read_task)

    def get_credits(self) -> Credits:
        """The key's balance (`GET /v1/credits`)."""
        return self._call("GET", CREDITS_PATH, idempotent=True, read=_read_credits)

    def list_tasks(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        model: str | None = None,
        limit: int | None = None,
        page_size: int = LIST_PAGE_SIZE_MAX,
    ) -> list[TaskSummary]:
        """The key's tasks, newest first (`GET /v1/tasks`), page after page until `limit` tasks
        or the last page; filtered by `status` (`processing` takes queued tasks too), `type`
        and `model`. The items carry no result links: see get_tasks()."""
        pager = _Pager(limit, _list_query(status, type, model, page_size))
        while pager.take(self._call("GET", pager.path, idempotent=True, read=_read_page)):
            pass
        return pager.tasks

    def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        """The key's tasks of these ids, as get_task() would read each (`POST /v1/tasks/batch`,
        50 ids a call), in the order given; an unknown, expired or foreign id is left out."""
        found: list[Task] = []
        for batch in _batches(task_ids):
            body = {"task_ids": batch}
            found += self._call(
                "POST", TASKS_BATCH_PATH, body=body, idempotent=True, read=_read_batch
            )
        return found

    def models(self) -> list[Model]:
        """The models this key can use (`GET /v1/models`)."""
        return self._call("GET", MODELS_PATH, idempotent=True, read=_read_models)

    def upload_file(
        self,
        source: StrPath | bytes,
        *,
        upload_path: str | None = None,
        file_name: str | None = None,
    ) -> UploadedFile:
        """Upload an image to the files API and return it: its `url` is what `create_video`
        takes as `image_urls`, for 72 hours. `source` is a path (sent as a multipart file), the
        file's bytes (as base64), or an http(s) URL the server fetches. Retried only when the
        upload surely made no file: each upload counts against the key's quota."""
        found = _upload_of(source)
        if isinstance(found, Path):
            url, content = self._upload(found.read_bytes(), found.name, upload_path, file_name)
        else:
            url, content = self._upload(found, None, upload_path, file_name)
        return self._call("POST", url, idempotent=False, read=_read_uploaded, **content)

    def wait(
        self,
        task: Task | str,
        *,
        timeout: float = WAIT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        max_poll_interval: float = MAX_POLL_INTERVAL,
        on_progress: ProgressCallback | None = None,
    ) -> Task:
        """Poll until the task completes and return it.

        Raises TaskFailedError if it fails and WaitTimeoutError after `timeout` seconds.
        `on_progress` gets the task after every poll.
        """
        task_id = task if isinstance(task, str) else task.id
        waiter = _Waiter(timeout, poll_interval, max_poll_interval, self._clock, on_progress)
        current = task if isinstance(task, Task) and task.done else self.get_task(task_id)
        while (delay := waiter.observe(current)) is not None:
            self._sleep(delay)
            current = self.get_task(task_id)
        return current

    def download(self, task: Task | str, path: StrPath) -> Path:
        """Save the task's video to `path`: streamed, and renamed into place only when complete."""
        url = _result_url(self.get_task(task) if isinstance(task, str) else task)
        retrying = _Retrying(self._attempts(idempotent=True), "download", url)
        while True:
            with retrying:
                return self._download_once(url, path)
            self._sleep(retrying.delay)

    def _download_once(self, url: str, path: StrPath) -> Path:
        # No Authorization header: result links are public CDN URLs, and the key stays with the API.
        with (
            _atomic_target(path) as (target, file),
            _map_transport_errors,
            self._http.stream("GET", url, follow_redirects=True) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _status_error(response)
            written = 0
            for chunk in response.iter_bytes(_CHUNK):
                file.write(chunk)
                written += len(chunk)
            _check_length(response, written)
        return target


class AsyncClient(_BaseClient):
    """The asyncio/trio twin of `Client`, with the same methods as coroutines."""

    _http: httpx.AsyncClient

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        idempotency_keys: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: AsyncSleep = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        files_base_url: str | None = None,
    ) -> None:
        super().__init__(api_key, base_url, retry, idempotency_keys, clock, random, files_base_url)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=self._headers()
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool,
        read: Callable[[httpx.Response], _Body],
        **content: Any,
    ) -> _Body:
        retrying = _Retrying(self._attempts(idempotent=idempotent), method, path)
        while True:
            with retrying:
                request = self._build_request(method, path, body, headers, **content)
                with _map_transport_errors:
                    response = await self._http.send(request)
                log.debug("%s %s -> %d", method, path, response.status_code)
                return read(response)
            await self._sleep(retrying.delay)

    async def create_video(
        self,
        prompt: str,
        *,
        model: str = MODEL,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        quality: str | None = None,
        image_urls: Sequence[str] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Start a video generation task. Checked locally first; see client/README.md, "Retries".

        The request carries `idempotency_key`, or a new key, so that a retry cannot make a second
        task; the returned task's `replayed` says the server answered with the key's first task.
        """
        body = build_create_body(
            prompt,
            model=model,
            aspect_ratio=aspect_ratio,
            duration=duration,
            quality=quality,
            image_urls=image_urls,
            callback_url=callback_url,
        )
        headers = self._create_headers(idempotency_key)
        return await self._call(
            "POST",
            CREATE_PATH,
            body=body,
            headers=headers,
            idempotent=IDEMPOTENCY_KEY_HEADER in headers,
            read=_read_created,
        )

    async def get_task(self, task_id: str) -> Task:
        """The task's current state. A failed task is returned, not raised: see wait()."""
        return await self._call("GET", self._task_path(task_id), idempotent=True, read=_read_task)

    async def get_credits(self) -> Credits:
        """The key's balance (`GET /v1/credits`)."""
        return await self._call("GET", CREDITS_PATH, idempotent=True, read=_read_credits)

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        model: str | None = None,
        limit: int | None = None,
        page_size: int = LIST_PAGE_SIZE_MAX,
    ) -> list[TaskSummary]:
        """The key's tasks, newest first, every page of them; see `Client.list_tasks`."""
        pager = _Pager(limit, _list_query(status, type, model, page_size))
        while pager.take(await self._call("GET", pager.path, idempotent=True, read=_read_page)):
            pass
        return pager.tasks

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        """The key's tasks of these ids; see `Client.get_tasks`."""
        found: list[Task] = []
        for batch in _batches(task_ids):
            body = {"task_ids": batch}
            found += await self._call(
                "POST", TASKS_BATCH_PATH, body=body, idempotent=True, read=_read_batch
            )
        return found

    async def models(self) -> list[Model]:
        """The models this key can use (`GET /v1/models`)."""
        return await self._call("GET", MODELS_PATH, idempotent=True, read=_read_models)

    async def upload_file(
        self,
        source: StrPath | bytes,
        *,
        upload_path: str | None = None,
        file_name: str | None = None,
    ) -> UploadedFile:
        """Upload an image to the files API and return it; see `Client.upload_file`."""
        found = _upload_of(source)
        if isinstance(found, Path):
            data = await anyio.Path(found).read_bytes()
            url, content = self._upload(data, found.name, upload_path, file_name)
        else:
            url, content = self._upload(found, None, upload_path, file_name)
        return await self._call("POST", url, idempotent=False, read=_read_uploaded, **content)

    async def wait(
        self,
        task: Task | str,
        *,
        timeout: float = WAIT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        max_poll_interval: float = MAX_POLL_INTERVAL,
        on_progress: ProgressCallback | None = None,
    ) -> Task:
        """Poll until the task completes and return it; see `Client.wait`."""
        task_id = task if isinstance(task, str) else task.id
        waiter = _Waiter(timeout, poll_interval, max_poll_interval, self._clock, on_progress)
        current = task if isinstance(task, Task) and task.done else await self.get_task(task_id)
        while (delay := waiter.observe(current)) is not None:
            await self._sleep(delay)
            current = await self.get_task(task_id)
        return current

    async def download(self, task: Task | str, path: StrPath) -> Path:
        """Save the task's video to `path`; see `Client.download`."""
        url = _result_url(await self.get_task(task) if isinstance(task, str) else task)
        retrying = _Retrying(self._attempts(idempotent=True), "download", url)
        while True:
            with retrying:
                return await self._download_once(url, path)
            await self._sleep(retrying.delay)

    async def _download_once(self, url: str, path: StrPath) -> Path:
        # File writes are small and blocking; a 64 KiB write does not stall the loop noticeably.
        with _atomic_target(path) as (target, file), _map_transport_errors:
            async with self._http.stream("GET", url, follow_redirects=True) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _status_error(response)
                written = 0
                async for chunk in response.aiter_bytes(_CHUNK):
                    file.write(chunk)
                    written += len(chunk)
                _check_length(response, written)
        return target
