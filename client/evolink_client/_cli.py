"""`evolink-video`: generate a video, check a task, download a result, from the shell.

Exit codes are one per error family (`EXIT_CODES`); the `--help` epilog and client/README.md
show the same table, and a test keeps the README in step.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tqdm import tqdm

from ._client import WAIT_TIMEOUT, Client, __version__
from ._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CHOICES,
    FILES_BASE_URL_ENV,
    LIST_STATUSES,
    LIST_TYPES,
    MODEL,
    MODELS,
)
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    EvolinkError,
    IdempotencyConflictError,
    InsufficientQuotaError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    TaskNotReadyError,
    ValidationError,
    WaitTimeoutError,
)
from ._models import Task, TaskSummary, UploadedFile

PROG = "evolink-video"
CLI_POLL_INTERVAL = 2.0
#: `list` shows this many tasks unless told: what the vendor's client lists by default
LIST_LIMIT = 20

#: (exit code, the errors it stands for, what it means). The first row whose class is in an
#: error's MRO wins, so subclasses come before their bases.
EXIT_CODES: tuple[tuple[int, tuple[type[BaseException], ...], str], ...] = (
    (0, (), "success"),
    (
        1,
        (EvolinkError, OSError),
        "any other error: an unexpected response, a file that cannot be written",
    ),
    (
        2,
        (ValidationError, ConfigurationError),
        "usage: bad arguments, a value the API would refuse, no API key",
    ),
    (3, (InvalidRequestError,), "HTTP 400: invalid request or task id"),
    (4, (AuthenticationError,), "HTTP 401: missing, invalid or expired API key"),
    (5, (InsufficientQuotaError,), "HTTP 402: insufficient quota"),
    (6, (PermissionDeniedError,), "HTTP 403: no access to the model or the task"),
    (7, (TaskNotFoundError,), "HTTP 404: no such task, or it expired"),
    (8, (RateLimitError,), "HTTP 429: rate limited, after retries"),
    (9, (ServerError,), "HTTP 5xx: server error, after retries where safe"),
    (10, (APIConnectionError,), "connection error or timeout, after retries where safe"),
    (11, (TaskFailedError,), "the task failed (content policy, service error ...)"),
    (12, (WaitTimeoutError,), "--wait gave up before the task finished"),
    (13, (TaskNotReadyError,), "download: the task has not completed yet"),
    (
        14,
        (IdempotencyConflictError,),
        "HTTP 409/422 idempotency_conflict: the key is another request's, or still in use",
    ),
    (130, (KeyboardInterrupt,), "interrupted"),
)


def exit_code_for(exc: BaseException) -> int:
    by_class = {cls: code for code, classes, _ in EXIT_CODES for cls in classes}
    for cls in type(exc).__mro__:
        if cls in by_class:
            return by_class[cls]
    return 1


def _choices(name: str) -> list[object]:
    """Every model's values of a field, in order, each once (the body checks the model's)."""
    return list(dict.fromkeys(v for fields in CHOICES.values() for v in fields.get(name, ())))


def _epilog() -> str:
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, _, meaning in EXIT_CODES)
    return (
        f"environment: {API_KEY_ENV} (the API key), {BASE_URL_ENV} (default https://api.evolink.ai),"
        f" {FILES_BASE_URL_ENV} (default: the base URL; for the vendor's, its files host)\n"
        f"\nexit codes:\n{rows}\n"
    )


def build_parser() -> argparse.ArgumentParser:
    # Shared options are accepted before or after the command; SUPPRESS keeps a later default
    # from overwriting a value given earlier.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--base-url", default=argparse.SUPPRESS, help=f"API base URL (env {BASE_URL_ENV})"
    )
    common.add_argument(
        "--files-base-url",
        default=argparse.SUPPRESS,
        help=f"files API base URL, for upload (env {FILES_BASE_URL_ENV})",
    )
    common.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        help=f"API key (prefer env {API_KEY_ENV}: argv is visible to ps)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON on stdout, errors too",
    )
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate videos with Evolink's Sora-2-Pro API.",
        epilog=_epilog(),
        formatter_class=formatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        parents=[common],
        help="start a video task",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    generate.add_argument("prompt", metavar="PROMPT")
    generate.add_argument(
        "--model", choices=MODELS, default=MODEL, help=f"the model (default: {MODEL})"
    )
    generate.add_argument("--duration", type=int, choices=_choices("duration"), help="seconds")
    generate.add_argument("--quality", choices=_choices("quality"), help="not every model's")
    generate.add_argument(
        "--aspect-ratio", choices=_choices("aspect_ratio"), help="the model's page lists its own"
    )
    generate.add_argument("--image-url", action="append", help="reference image URL (at most one)")
    generate.add_argument("--callback-url", help="HTTPS URL to call when the task ends")
    keys = generate.add_mutually_exclusive_group()
    keys.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the create's Idempotency-Key: 1-255 printable ASCII characters (default: a new "
        "random key per run). Run again with the same KEY and arguments, and a server that "
        "keeps keys answers with the first run's task, not a new one; with other arguments, "
        "it refuses (exit 14)",
    )
    keys.add_argument(
        "--no-idempotency-key",
        action="store_true",
        help="send no Idempotency-Key, and retry the create only when it surely made no task "
        "(a 429, a connection never made): for a server that ignores the header, where a "
        "retried create could make and bill a second task",
    )
    generate.add_argument("--wait", action="store_true", help="wait for the task to finish")
    generate.add_argument("--output", metavar="FILE", help="save the video here (implies --wait)")
    generate.add_argument(
        "--timeout",
        type=float,
        default=WAIT_TIMEOUT,
        help="seconds --wait waits (default %(default)s)",
    )
    generate.add_argument(
        "--poll-interval",
        type=float,
        default=CLI_POLL_INTERVAL,
        help="first delay between polls, in seconds; it backs off from there (default %(default)s)",
    )

    status = commands.add_parser(
        "status", parents=[common], help="show a task", epilog=_epilog(), formatter_class=formatter
    )
    status.add_argument("task_id", metavar="TASK_ID")

    download = commands.add_parser(
        "download",
        parents=[common],
        help="save a completed task's video",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    download.add_argument("task_id", metavar="TASK_ID")
    download.add_argument("--output", metavar="FILE", required=True)

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="show the key's tasks, newest first",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    listing.add_argument(
        "--status", choices=LIST_STATUSES, help="processing includes tasks still queued"
    )
    listing.add_argument("--type", choices=LIST_TYPES, help="the tasks' output type")
    listing.add_argument("--model", help="only this model's tasks")
    listing.add_argument(
        "--limit",
        type=int,
        default=LIST_LIMIT,
        help="show at most this many, reading page after page (default %(default)s)",
    )
    upload = commands.add_parser(
        "upload",
        parents=[common],
        help="upload a reference image; print its URL, for --image-url",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    upload.add_argument("file", metavar="FILE", help="a local image, or an http(s) URL to fetch")
    upload.add_argument("--upload-path", metavar="PATH", help="the folder on the file host")
    upload.add_argument("--file-name", metavar="NAME", help="the name it is stored under")
    return parser


class _Output:
    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def task(self, task: Task, path: str | None = None, *, replayed: bool = False) -> None:
        if self.as_json:
            doc: dict[str, Any] = {"task": task.to_json()}
            if replayed:
                doc["replayed"] = True
            if path is not None:
                doc["output"] = path
            print(json.dumps(doc, ensure_ascii=False), file=self.out)
            return
        print(f"{task.id}\t{task.status.value}\t{task.progress}%", file=self.out)
        if replayed:
            print("replayed: the task this key made before; no new charge", file=self.out)
        for url in task.results:
            print(f"result: {url}", file=self.out)
        if task.error is not None:
            reason = f": {task.error.message}" if task.error.message else ""
            print(f"error: {task.error.code}{reason}", file=self.out)
        if path is not None:
            print(f"saved: {path}", file=self.out)

    def summaries(self, tasks: list[TaskSummary]) -> None:
        if self.as_json:
            print(json.dumps({"tasks": [_summary_json(t) for t in tasks]}), file=self.out)
            return
        for task in tasks:
            created = datetime.fromtimestamp(task.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            line = f"{task.id}\t{task.status.value}\t{task.progress}%\t{task.model}\t{created}"
            if task.credits_used is not None:
                line += f"\tcharged {task.credits_used:g}"
            print(line, file=self.out)
        if not tasks:
            print("no tasks", file=self.out)

    def uploaded(self, file: UploadedFile) -> None:
        if self.as_json:
            print(json.dumps({"file": file.to_json()}, ensure_ascii=False), file=self.out)
            return
        print(file.url, file=self.out)
        print(
            f"{file.file_id}\t{file.mime_type}\t{file.file_size} bytes\texpires {file.expires_at}",
            file=self.err,
        )

    def error(self, exc: BaseException, code: int) -> None:
        if not self.as_json:
            print(f"{PROG}: error: {exc}", file=self.err)
            return
        error: dict[str, Any] = {"class": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, APIStatusError):
            error |= {
                "status": exc.status,
                "code": exc.code,
                "type": exc.type,
                "param": exc.param,
                "request_id": exc.request_id,
            }
        if isinstance(exc, TaskFailedError | WaitTimeoutError | TaskNotReadyError):
            error["task"] = exc.task.to_json()
        print(json.dumps({"error": error, "exit_code": code}, ensure_ascii=False), file=self.out)


class _ProgressBar:
    """A tqdm bar on stderr, moved to each polled task's progress."""

    def __init__(self, task_id: str, err: TextIO, disable: bool) -> None:
        self._bar = tqdm(total=100, desc=task_id, unit="%", file=err, disable=disable, leave=True)

    def __call__(self, task: Task) -> None:
        self._bar.set_postfix_str(task.status.value, refresh=False)
        self._bar.update(max(0, task.progress - self._bar.n))

    def close(self) -> None:
        self._bar.close()


def _generate(client: Client, args: argparse.Namespace, output: _Output) -> int:
    task = client.create_video(
        args.prompt,
        model=args.model,
        aspect_ratio=args.aspect_ratio,
        duration=args.duration,
        quality=args.quality,
        image_urls=args.image_url,
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
    )
    replayed = task.replayed  # the polled task no longer says how the create was answered
    if not (args.wait or args.output):
        output.task(task, replayed=replayed)
        return 0
    bar = _ProgressBar(task.id, output.err, disable=output.as_json)
    try:
        task = client.wait(
            task, timeout=args.timeout, poll_interval=args.poll_interval, on_progress=bar
        )
    finally:
        bar.close()
    path = str(client.download(task, args.output)) if args.output else None
    output.task(task, path, replayed=replayed)
    return 0


def _status(client: Client, args: argparse.Namespace, output: _Output) -> int:
    output.task(client.get_task(args.task_id))
    return 0


def _download(client: Client, args: argparse.Namespace, output: _Output) -> int:
    task = client.get_task(args.task_id)
    output.task(task, str(client.download(task, args.output)))
    return 0


def _summary_json(task: TaskSummary) -> dict[str, Any]:
    """A listed task as the API lists it, unknown fields included."""
    body: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "type": task.type,
        "status": task.status.value,
        "progress": task.progress,
        "created_at": task.created_at,
        "has_results": task.has_results,
        "result_count": task.result_count,
        "has_error": task.has_error,
        "duration": task.duration,
        "credits_used": task.credits_used,
    }
    return {k: v for k, v in body.items() if v is not None} | dict(task.extra)


def _list(client: Client, args: argparse.Namespace, output: _Output) -> int:
    output.summaries(
        client.list_tasks(status=args.status, type=args.type, model=args.model, limit=args.limit)
    )
    return 0


def _upload(client: Client, args: argparse.Namespace, output: _Output) -> int:
    output.uploaded(
        client.upload_file(args.file, upload_path=args.upload_path, file_name=args.file_name)
    )
    return 0


COMMANDS: dict[str, Callable[[Client, argparse.Namespace, _Output], int]] = {
    "generate": _generate,
    "status": _status,
    "download": _download,
    "list": _list,
    "upload": _upload,
}


def _usage_error_json(said: str, code: int) -> None:
    """argparse's usage error (`usage: ...` then `PROG: error: MESSAGE`) as `--json` prints
    every error: one JSON document on stdout."""
    last = said.strip().splitlines()[-1]
    message = last.split(": error: ", 1)[-1]
    error = {"class": "UsageError", "message": message, "usage": said.strip()}
    print(json.dumps({"error": error, "exit_code": code}, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = sys.argv[1:] if argv is None else list(argv)
    said = io.StringIO()
    try:
        # with --json a usage error is JSON on stdout too; argparse writes it to stderr
        with contextlib.redirect_stderr(said) if "--json" in given else contextlib.nullcontext():
            args = parser.parse_args(given)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        code = exc.code if isinstance(exc.code, int) else 2
        if said.getvalue():
            _usage_error_json(said.getvalue(), code)
        return code
    output = _Output(getattr(args, "json", False), sys.stdout, sys.stderr)
    try:
        with Client(
            getattr(args, "api_key", None),
            base_url=getattr(args, "base_url", None),
            files_base_url=getattr(args, "files_base_url", None),
            idempotency_keys=not getattr(args, "no_idempotency_key", False),
        ) as client:
            return COMMANDS[args.command](client, args, output)
    except (EvolinkError, OSError, KeyboardInterrupt) as exc:
        code = exit_code_for(exc)
        output.error(exc, code)
        return code
