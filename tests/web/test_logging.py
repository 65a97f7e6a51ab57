"""The access line of `evolink-mock serve`: uvicorn's text exactly, written in cheap batches."""

from __future__ import annotations

import copy
import io
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter as UvicornAccessFormatter

from mockserver.cli.logging import (
    ACCESS_MESSAGE,
    AccessFormatter,
    AccessLogger,
    BufferedStreamHandler,
    OrderedStreamHandler,
    fast_access_logger,
    log_config,
    quiet_log_records,
)
from mockserver.web.requests import REQUEST_ID

UVICORN_FORMAT = LOGGING_CONFIG["formatters"]["access"]["fmt"]


def access_record(*args: object, level: int = logging.INFO) -> logging.LogRecord:
    """A record as uvicorn's HTTP protocols make it."""
    return logging.LogRecord("uvicorn.access", level, __file__, 1, ACCESS_MESSAGE, args, None)


ACCESS_ARGS = [
    ("127.0.0.1:5555", "POST", "/v1/videos/generations", "1.1", 200),
    ("127.0.0.1:5555", "GET", "/v1/tasks/task-unified-1", "1.1", 404),
    ("10.0.0.7:40001", "POST", "/v1/videos/generations", "1.1", 429),
    ("10.0.0.7:40001", "GET", "/_mock/health", "1.0", 500),
    ("127.0.0.1:5555", "GET", "/_mock/health", "1.1", 599),  # no phrase
    ("127.0.0.1:5555", "GET", "/_mock/journal?limit=5&api_key=sk-a", "1.1", 101),
    ("::1:43210", "GET", "/v1/tasks/abc%20def", "2", 302),  # IPv6, as uvicorn writes it
    ("", "GET", "/", "1.1", 204),  # no client in the scope
]


@pytest.mark.parametrize("use_colors", [False, True], ids=["plain", "colours"])
@pytest.mark.parametrize("args", ACCESS_ARGS, ids=lambda a: str(a[4]))
@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_the_fast_formatter_writes_uvicorns_access_line(
    use_colors: bool, args: tuple[object, ...], level: int
) -> None:
    ours = AccessFormatter(use_colors=use_colors)
    theirs = UvicornAccessFormatter(UVICORN_FORMAT, use_colors=use_colors)

    for _ in range(2):  # computed, then cached
        assert ours.format(access_record(*args, level=level)) == theirs.format(
            access_record(*args, level=level)
        )


def test_the_plain_line_reads_as_uvicorns() -> None:
    line = AccessFormatter(use_colors=False).format(access_record(*ACCESS_ARGS[0]))

    assert line == 'INFO:     127.0.0.1:5555 - "POST /v1/videos/generations HTTP/1.1" 200 OK'


def test_colours_follow_whether_stdout_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert AccessFormatter().use_colors is False
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert AccessFormatter().use_colors is True


@pytest.mark.parametrize(
    "record",
    [
        # uvicorn's shape with arguments of other types: uvicorn's own formatter still copes
        access_record("127.0.0.1:5555", "GET", "/", 1.1, 200),
        logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            "",
            1,
            ACCESS_MESSAGE.replace("%d", "%s"),
            ("127.0.0.1:5555", "GET", "/", "1.1", "200"),
            None,
        ),
        access_record("127.0.0.1:5555", "GET", "/", "1.1", True),
    ],
    ids=["float-version", "str-status", "bool-status"],
)
def test_an_unusual_record_is_formatted_by_uvicorns_formatter(record: logging.LogRecord) -> None:
    theirs = UvicornAccessFormatter(UVICORN_FORMAT, use_colors=False)

    assert AccessFormatter(use_colors=False).format(record) == theirs.format(copy.copy(record))


def test_a_record_with_an_exception_keeps_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = access_record(*ACCESS_ARGS[0])
        record.exc_info = sys.exc_info()

    line = AccessFormatter(use_colors=False).format(record)

    assert line.startswith('INFO:     127.0.0.1:5555 - "POST /v1/videos/generations HTTP/1.1" 200')
    assert line.endswith("ValueError: boom")


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("server says %s", ("hello",), "WARNING:  server says hello"),
        ("no arguments", (), "WARNING:  no arguments"),
        ("%s %s", ("only one",), "WARNING:  %s %s ('only one',)"),
        (ACCESS_MESSAGE, ("a", "b", "c", "d"), f"WARNING:  {ACCESS_MESSAGE} ('a', 'b', 'c', 'd')"),
    ],
    ids=["other-message", "no-args", "bad-args", "four-args"],
)
def test_a_malformed_record_falls_back_without_raising(
    msg: str, args: tuple[object, ...], expected: str
) -> None:
    record = logging.LogRecord("uvicorn.access", logging.WARNING, "", 1, msg, args, None)

    assert AccessFormatter(use_colors=False).format(record) == expected


# -- the buffered handler -------------------------------------------------------------------------


class Stream(io.StringIO):
    """A stream that counts its writes and flushes, and can break like a closed pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0
        self.broken = False
        self.wrote = threading.Event()

    def write(self, text: str) -> int:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.writes += 1
        written = super().write(text)
        self.wrote.set()
        return written

    def flush(self) -> None:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.flushes += 1


@pytest.fixture
def make_handler() -> Iterator[Callable[..., BufferedStreamHandler]]:
    handlers: list[BufferedStreamHandler] = []

    def make(stream: Stream, **kwargs: float) -> BufferedStreamHandler:
        handler = BufferedStreamHandler(stream, **kwargs)  # type: ignore[arg-type]
        handler.setFormatter(AccessFormatter(use_colors=False))
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close()


def log_lines(handler: logging.Handler, count: int) -> list[str]:
    lines = []
    for i in range(count):
        record = access_record("127.0.0.1:5555", "GET", f"/v1/tasks/{i}", "1.1", 200)
        handler.handle(record)
        lines.append(f'INFO:     127.0.0.1:5555 - "GET /v1/tasks/{i} HTTP/1.1" 200 OK\n')
    return lines


def test_lines_wait_in_the_buffer_until_flushed(
    make_handler: Callable[..., BufferedStreamHandler],
) -> None:
    stream = Stream()
    handler = make_handler(stream, interval=60)

    lines = log_lines(handler, 100)
    assert stream.writes == 0

    handler.flush()
    assert (stream.writes, stream.flushes) == (1, 1)
    assert stream.getvalue() == "".join(lines)


def test_a_quiet_stream_gets_its_lines_within_the_interval(
    make_handler: Callable[..., BufferedStreamHandler],
) -> None:
    stream = Stream()
    handler = make_handler(stream, interval=0.05)

    for _ in range(3):  # the writer thread sleeps while the buffer is empty, then wakes again
        stream.wrote.clear()
        stream.truncate(0)
        stream.seek(0)
        started = time.monotonic()
        lines = log_lines(handler, 3)
        assert stream.wrote.wait(timeout=1)
        assert time.monotonic() - started < 0.5
        assert stream.getvalue() == "".join(lines)


def test_a_full_buffer_is_written_at_once(
    make_handler: Callable[..., BufferedStreamHandler],
) -> None:
    stream = Stream()
    handler = make_handler(stream, interval=60, capacity=1000)

    lines = log_lines(handler, 30)  # ~60 characters each: written once past 1000

    assert stream.writes == 1
    handler.flush()
    assert stream.getvalue() == "".join(lines)


def test_close_writes_everything_and_later_lines_at_once(
    make_handler: Callable[..., BufferedStreamHandler],
) -> None:
    stream = Stream()
    handler = make_handler(stream, interval=60)
    lines = log_lines(handler, 5)

    handler.close()
    assert stream.getvalue() == "".join(lines)
    assert handler._thread is None

    more = log_lines(handler, 1)  # a handler still attached after close loses nothing either
    assert stream.getvalue() == "".join(lines + more)


def test_a_broken_stream_is_reported_not_raised(
    make_handler: Callable[..., BufferedStreamHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[tuple[type[BaseException] | None, str]] = []

    def handle_error(record: logging.LogRecord) -> None:
        errors.append((sys.exc_info()[0], record.getMessage()))

    stream = Stream()
    line = log_lines(logging.NullHandler(), 1)[0]
    handler = make_handler(stream, interval=60, capacity=int(len(line) * 3.5))
    monkeypatch.setattr(handler, "handleError", handle_error)
    stream.broken = True

    log_lines(handler, 4)  # past capacity: written by emit, reported with its record
    assert errors == [(BrokenPipeError, '127.0.0.1:5555 - "GET /v1/tasks/3 HTTP/1.1" 200')]
    handler.interval = 0.02
    log_lines(handler, 1)  # left to the writer thread
    wait_for(lambda: len(errors) > 1)
    assert errors[1:] == [(BrokenPipeError, "could not write 1 buffered line(s)")]
    handler.flush()  # the stream's own flush fails too
    handler.close()
    assert [kind for kind, _ in errors] == [BrokenPipeError] * 4

    stream.broken = False
    assert log_lines(handler, 1) == [stream.getvalue()]  # the stream works again: so does this


def test_a_stderr_line_comes_after_the_buffered_access_lines(
    make_handler: Callable[..., BufferedStreamHandler],
) -> None:
    stream = Stream()
    handler = make_handler(stream, interval=60)
    lines = log_lines(handler, 2)
    stderr = io.StringIO()
    ordered = OrderedStreamHandler(stderr)

    ordered.handle(logging.makeLogRecord({"msg": "Shutting down"}))

    assert stream.getvalue() == "".join(lines)
    assert stderr.getvalue() == "Shutting down\n"


# -- the access logger ----------------------------------------------------------------------------


@pytest.fixture
def access_logger(
    make_handler: Callable[..., BufferedStreamHandler],
) -> tuple[AccessLogger, BufferedStreamHandler, Stream]:
    """An `AccessLogger` as `log_config()` leaves `uvicorn.access`, outside logging's tree."""
    stream = Stream()
    handler = make_handler(stream, interval=60)
    logger = AccessLogger("tests.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    return logger, handler, stream


def no_records(*args: object, **kwargs: object) -> logging.LogRecord:
    raise AssertionError("a LogRecord was made")


@pytest.mark.parametrize("args", ACCESS_ARGS, ids=lambda a: str(a[4]))
def test_the_access_logger_writes_the_formatters_line_without_a_record(
    access_logger: tuple[AccessLogger, BufferedStreamHandler, Stream],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[object, ...],
) -> None:
    logger, handler, stream = access_logger
    expected = AccessFormatter(use_colors=False).format(access_record(*args)) + "\n"
    monkeypatch.setattr(logger, "makeRecord", no_records)

    logger.info(ACCESS_MESSAGE, *args)
    handler.flush()

    assert stream.getvalue() == expected


def test_the_access_logger_keeps_the_request_id(
    access_logger: tuple[AccessLogger, BufferedStreamHandler, Stream],
) -> None:
    logger, handler, stream = access_logger
    token = REQUEST_ID.set("req-1")
    try:
        logger.info(ACCESS_MESSAGE, *ACCESS_ARGS[0])
    finally:
        REQUEST_ID.reset(token)
    handler.flush()

    assert stream.getvalue().endswith('"POST /v1/videos/generations HTTP/1.1" 200 OK req-1\n')


class Dropped(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _filter_the_logger(logger: AccessLogger, handler: BufferedStreamHandler) -> None:
    logger.addFilter(Dropped())


def _filter_the_handler(logger: AccessLogger, handler: BufferedStreamHandler) -> None:
    handler.addFilter(Dropped())


def _warning_level(logger: AccessLogger, handler: BufferedStreamHandler) -> None:
    logger.setLevel(logging.WARNING)


def _warning_handler(logger: AccessLogger, handler: BufferedStreamHandler) -> None:
    handler.setLevel(logging.WARNING)


def _disabled(logger: AccessLogger, handler: BufferedStreamHandler) -> None:
    logger.disabled = True


@pytest.mark.parametrize(
    "configure",
    [_filter_the_logger, _filter_the_handler, _warning_level, _warning_handler, _disabled],
)
def test_the_access_logger_honours_what_silences_a_line(
    access_logger: tuple[AccessLogger, BufferedStreamHandler, Stream],
    configure: Callable[[AccessLogger, BufferedStreamHandler], None],
) -> None:
    logger, handler, stream = access_logger
    configure(logger, handler)

    logger.info(ACCESS_MESSAGE, *ACCESS_ARGS[0])
    handler.flush()

    assert stream.getvalue() == ""


def test_the_access_logger_logs_through_records_when_configured_otherwise(
    access_logger: tuple[AccessLogger, BufferedStreamHandler, Stream],
) -> None:
    logger, handler, stream = access_logger
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign,assignment]
    logger.addHandler(other)  # a second handler: each gets the record

    logger.info(ACCESS_MESSAGE, *ACCESS_ARGS[0])
    logger.info("%s and %s", "a", "b")  # not uvicorn's line
    logger.info(ACCESS_MESSAGE, 1, "GET", "/", "1.1", 200)  # not uvicorn's types
    handler.flush()

    assert [record.args for record in seen] == [
        ACCESS_ARGS[0],
        ("a", "b"),
        (1, "GET", "/", "1.1", 200),
    ]
    assert stream.getvalue().splitlines()[0].endswith('HTTP/1.1" 200 OK')
    assert stream.getvalue().splitlines()[1] == "INFO:     a and b"


def test_an_odd_call_on_the_direct_path_goes_through_a_record(
    access_logger: tuple[AccessLogger, BufferedStreamHandler, Stream],
) -> None:
    logger, handler, stream = access_logger

    logger.info(ACCESS_MESSAGE, 1, "GET", "/", "1.1", 200)  # not uvicorn's types
    logger.info("%s - %s", "a", "b", "c", "d", "e")  # five arguments, another message
    handler.flush()

    assert stream.getvalue().splitlines() == [
        'INFO:     1 - "GET / HTTP/1.1" 200 OK',  # as uvicorn's formatter writes it
        "INFO:     %s - %s ('a', 'b', 'c', 'd', 'e')",
    ]


def test_fast_access_logger_keeps_uvicorns_logger_and_its_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(logger, "__class__", logging.Logger)  # restored after the test
    handlers = list(logger.handlers)

    fast_access_logger()
    fast_access_logger()

    assert logging.getLogger("uvicorn.access") is logger
    assert type(logger) is AccessLogger
    assert logger.handlers == handlers


def test_the_config_is_uvicorns_but_for_the_access_line() -> None:
    ours = log_config()
    # and for the one filter on uvicorn.error, which drops its websocket advice (test_serve.py)
    error = ours["loggers"]["uvicorn.error"]
    assert error.pop("filters") == ["websocket_advice"]

    assert ours["loggers"] == LOGGING_CONFIG["loggers"]
    assert ours["formatters"]["default"] == LOGGING_CONFIG["formatters"]["default"]
    for name in ["default", "access"]:
        assert ours["handlers"][name]["stream"] == LOGGING_CONFIG["handlers"][name]["stream"]
        assert ours["handlers"][name]["formatter"] == LOGGING_CONFIG["handlers"][name]["formatter"]


# -- the server -----------------------------------------------------------------------------------


@pytest.mark.processes
@pytest.mark.realclock
def test_serve_writes_the_access_line_promptly_and_all_of_them_at_sigterm() -> None:
    argv = [
        sys.executable,
        "-m",
        "mockserver.cli.main",
        "serve",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
    ]
    stdout: list[str] = []
    stderr: list[str] = []
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdout=pipe, stderr=pipe, text=True) as process:
        # read both pipes as lines arrive, so that neither blocks the server
        readers = [
            threading.Thread(target=stdout.extend, args=(process.stdout,), daemon=True),
            threading.Thread(target=stderr.extend, args=(process.stderr,), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            found = wait_for(
                lambda: re.search(r"Uvicorn running on (http://\S+)", "".join(stderr)), timeout=20
            )
            assert isinstance(found, re.Match), "the server did not start:\n" + "".join(stderr)
            with httpx.Client(base_url=found.group(1), timeout=5) as client:
                client.get("/_mock/health")
                assert wait_for(lambda: stdout), "no access line within 3 s"
                auth = {"Authorization": "Bearer sk-test"}
                unknown = client.get("/v1/tasks/task-unknown", headers=auth)  # a vendor call
                client.get("/_mock/health?last=1")  # logged just before SIGTERM: not lost
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            for reader in readers:
                reader.join(timeout=5)

    line = r'INFO: {5}127\.0\.0\.1:\d+ - "GET %s HTTP/1\.1" 200 OK\n'
    assert len(stdout) == 3
    assert re.fullmatch(line % "/_mock/health", stdout[0])
    request_id = unknown.headers["X-Request-Id"]
    status = f"{unknown.status_code} {unknown.reason_phrase}"  # an error, with its request id
    assert stdout[1].endswith(f'"GET /v1/tasks/task-unknown HTTP/1.1" {status} {request_id}\n')
    assert re.fullmatch(line % r"/_mock/health\?last=1", stdout[2])
    assert "Finished server process" in "".join(stderr)
    # uvicorn shuts down gracefully, then re-raises the signal, as test_serve.py expects
    assert code == -signal.SIGTERM


def wait_for(check: Callable[[], object], timeout: float = 3) -> object:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def test_quiet_log_records_leave_out_caller_thread_and_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # restored after the test
    logger = logging.getLogger("tests.quiet")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign,assignment]
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        logger.info("before")
        quiet_log_records()
        logger.info("after")
    finally:
        logger.removeHandler(handler)

    before, after = seen
    assert (before.pathname, before.process is not None) == (__file__, True)
    assert (after.pathname, after.lineno) == ("(unknown file)", 0)
    assert (after.thread, after.process, after.processName) == (None, None, None)
