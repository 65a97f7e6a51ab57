"""uvicorn's logging for `evolink-mock serve`, with a cheap access line.

At `--log-level info` uvicorn logs one access line per request. With its default configuration
that line costs about as much as a tenth of a create request: `AccessFormatter` copies the
record, looks up the status phrase and colours on every line, and the `StreamHandler` makes one
`write` system call per line (stdout is unbuffered under PYTHONUNBUFFERED). Here the formatter
builds the same text from precomputed pieces, and the handler writes lines in batches, at most
`FLUSH_INTERVAL` seconds late.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any, TextIO

from uvicorn.logging import AccessFormatter as UvicornAccessFormatter

from ..web.requests import REQUEST_ID

#: what uvicorn's HTTP protocols pass to `access_logger.info`, with (client_addr, method,
#: path_with_query, http_version, status_code)
ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %d'
#: the format of uvicorn's LOGGING_CONFIG for the access formatter
ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
#: seconds an access line may wait in the buffer: a person watching sees no lag
FLUSH_INTERVAL = 0.1
#: characters that make the buffer be written at once, whatever its age
BUFFER_SIZE = 64 * 1024

_BOLD, _RESET = "\033[1m", "\033[0m"  # uvicorn._ansi.style(..., bold=True)


def quiet_log_records() -> None:
    """Leave out of every log record what no format here shows: the caller's file and line (a
    walk up the stack, deep under an ASGI app), thread and process ("Optimization" in the
    logging HOWTO). Process-wide: for a server's own process, not for a library."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class AccessFormatter(UvicornAccessFormatter):
    """uvicorn's access formatter, exactly, without its per-record cost.

    uvicorn's copies each record and rebuilds the level prefix, status phrase and colours;
    here the uvicorn-shaped record (five str/int arguments) is formatted straight from
    pieces computed once per level and status by uvicorn's own methods. Any other record goes
    to uvicorn's formatter; one that even uvicorn cannot format is shown as its message, so
    that a stray call on `uvicorn.access` never costs the line.
    """

    def __init__(self, use_colors: bool | None = None) -> None:
        super().__init__(fmt=ACCESS_FORMAT, use_colors=use_colors)
        # (levelno, levelname) -> levelprefix + " "; status -> "200 OK", coloured as uvicorn's
        self._prefixes: dict[tuple[int, str], str] = {}
        self._statuses: dict[int, str] = {}
        bold, reset = (_BOLD, _RESET) if self.use_colors else ("", "")
        self._open = ' - "' + bold  # client_addr, then the request line
        self._close = reset + '" '  # the request line, then the status

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if (
            type(args) is tuple
            and len(args) == 5
            and record.msg == ACCESS_MESSAGE
            and not (record.exc_info or record.exc_text or record.stack_info)
        ):
            line = self.line(record.levelno, record.levelname, *args)
            if line is not None:
                return line
        return self._fallback(record)

    def line(
        self,
        levelno: int,
        levelname: str,
        client: object,
        method: object,
        path: object,
        version: object,
        status: object,
    ) -> str | None:
        """The access line of uvicorn's five arguments at a level, or None if they are not of
        uvicorn's types (`format` then leaves the record to uvicorn's formatter)."""
        if not (
            type(client) is str
            and type(method) is str
            and type(path) is str
            and type(version) is str
            and type(status) is int
        ):
            return None
        key = (levelno, levelname)
        prefix = self._prefixes.get(key) or self._prefix(key)
        status_text = self._statuses.get(status) or self._status(status)
        line = (
            f"{prefix}{client}{self._open}{method} {path} HTTP/{version}{self._close}{status_text}"
        )
        request_id = REQUEST_ID.get()  # a vendor call's, set while it is answered
        return line if request_id is None else f"{line} {request_id}"

    def _prefix(self, key: tuple[int, str]) -> str:
        levelno, levelname = key
        separator = " " * (8 - len(levelname))
        if self.use_colors:
            levelname = self.color_level_name(levelname, levelno)
        prefix: str = levelname + ":" + separator + " "
        if len(self._prefixes) < 64:
            self._prefixes[key] = prefix
        return prefix

    def _status(self, status: int) -> str:
        text: str = self.get_status_code(status)
        if 0 <= status < 1000:
            self._statuses[status] = text
        return text

    def _fallback(self, record: logging.LogRecord) -> str:
        try:
            text: str = super().format(record)
        except RecursionError:
            raise
        except Exception:  # not uvicorn's shape: show it as uvicorn shows its other messages
            try:
                message = record.getMessage()
            except RecursionError:
                raise
            except Exception:  # the call's own arguments do not fit its message
                message = f"{record.msg} {record.args!r}"
            key = (record.levelno, record.levelname)
            text = (self._prefixes.get(key) or self._prefix(key)) + message
        return text


_live: weakref.WeakSet[BufferedStreamHandler] = weakref.WeakSet()


def flush_buffered() -> None:
    """Write out every buffered handler's lines now."""
    for handler in list(_live):
        handler.flush()


class BufferedStreamHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that writes lines in batches: one `write` and `flush` per `capacity`
    characters or per `interval` seconds, whichever comes first.

    A daemon thread, started with the first line, writes out a batch once its oldest line is
    `interval` old, so a quiet server shows its last line on time without waiting for another.
    `flush()`, `close()` (which `logging.shutdown` calls at exit) and `OrderedStreamHandler`
    (uvicorn's own messages, down to "Finished server process" before it re-raises SIGTERM and
    dies without running atexit) write out what is left. A stream that fails goes to
    `handleError` once per batch, as logging does per record; the batch is dropped.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = FLUSH_INTERVAL,
        capacity: int = BUFFER_SIZE,
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.capacity = capacity
        self._lines: list[str] = []
        self._size = 0
        self._since = 0.0  # time.monotonic() of the oldest buffered line
        self._closed = False
        self._wake = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None
        _live.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self.add(line, record)

    def add(self, line: str, record: logging.LogRecord | None = None) -> None:
        """Buffer one formatted line, its terminator included (what `emit` does after
        formatting; `AccessLogger` calls it with no record)."""
        with self._wake:  # the handler's lock: handle() holds it already, it is reentrant
            if not self._lines:
                self._since = time.monotonic()
                if self._thread is None and not self._closed:
                    self._start()
                self._wake.notify()
            self._lines.append(line)
            self._size += len(line)
            if self._size >= self.capacity or self._thread is None:
                self._write(record)

    def flush(self) -> None:
        with self._wake:
            self._write()

    def close(self) -> None:
        with self._wake:
            self._write()
            self._closed = True  # later lines are written at once, nothing is left behind
            self._wake.notify()
            thread = self._thread
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1)
        super().close()

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # at interpreter shutdown: no timer, every line is written at once
            return
        self._thread = thread

    def _run(self) -> None:
        with self._wake:
            while not self._closed and self._thread is threading.current_thread():
                if not self._lines:
                    self._wake.wait()
                    continue
                delay = self._since + self.interval - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                else:
                    self._write()

    def _write(self, record: logging.LogRecord | None = None) -> None:
        """Write the buffer and flush the stream; the caller holds the lock."""
        lines, self._lines, self._size = self._lines, [], 0
        try:
            if lines:
                self.stream.write("".join(lines))
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            if record is None:
                record = logging.makeLogRecord(
                    {
                        "name": self.name or __name__,
                        "msg": "could not write %d buffered line(s)",
                        "args": (len(lines),),
                    }
                )
            self.handleError(record)

    def _after_fork_in_child(self) -> None:
        # the writer thread did not survive the fork, and the parent writes its own lines
        self._wake = threading.Condition(self.lock)
        self._thread = None
        self._lines, self._size = [], 0


def _after_fork_in_child() -> None:
    for handler in list(_live):
        handler._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


class AccessLogger(logging.Logger):
    """The `uvicorn.access` logger, which writes uvicorn's access line without a `LogRecord`
    when nothing could tell the difference.

    uvicorn calls `access_logger.info(ACCESS_MESSAGE, client, method, path, version, status)`
    once per request. Making the record and passing it through `Logger.handle`, the handler's
    filters and lock and `format` costs several times what the line itself costs. When the
    logger is as `log_config()` leaves it (enabled for INFO, no filters, not propagating, one
    `BufferedStreamHandler` with an `AccessFormatter` and no filters), the line is built from
    the arguments and buffered directly; any other call, or any other configuration, is logged
    as `logging.Logger` logs it.
    """

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) == 5 and not kwargs and msg == ACCESS_MESSAGE:
            handler = self._direct_handler()
            if handler is not None:
                formatter = handler.formatter
                assert isinstance(formatter, AccessFormatter)
                # the levelname a record would carry (`addLevelName` may have renamed it)
                line = formatter.line(logging.INFO, logging.getLevelName(logging.INFO), *args)
                if line is not None:
                    handler.add(line + handler.terminator)
                    return
        super().info(msg, *args, **kwargs)

    def _direct_handler(self) -> BufferedStreamHandler | None:
        handlers = self.handlers
        if (
            len(handlers) != 1
            or self.filters
            or self.propagate
            or self.disabled
            or not self.isEnabledFor(logging.INFO)
        ):
            return None
        (handler,) = handlers
        if (
            type(handler) is not BufferedStreamHandler
            or handler.filters
            or handler.level > logging.INFO
            or type(handler.formatter) is not AccessFormatter
        ):
            return None
        return handler


def fast_access_logger() -> None:
    """Make `uvicorn.access` an `AccessLogger` (it keeps its level, handlers and filters).
    Process-wide, like `quiet_log_records`: for a server's own process."""
    logger = logging.getLogger("uvicorn.access")
    if type(logger) is logging.Logger:
        logger.__class__ = AccessLogger


class OrderedStreamHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that first writes out the buffered access lines, so that a terminal
    showing stdout and stderr shows lines in the order they were logged."""

    def emit(self, record: logging.LogRecord) -> None:
        flush_buffered()
        super().emit(record)


class WebSocketAdvice(logging.Filter):
    """Drops uvicorn's advice to install a websocket library after an upgrade request it did
    not take: `serve` runs with `ws="none"` on purpose (the API has no websocket route), so the
    advice is wrong there; its line before it, "Unsupported upgrade request.", stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No supported WebSocket library detected")


def log_config(*, interval: float = FLUSH_INTERVAL, capacity: int = BUFFER_SIZE) -> dict[str, Any]:
    """uvicorn's LOGGING_CONFIG (same loggers, levels, streams and default formatter) with
    the cheap access formatter and the buffered handler on `uvicorn.access`, and no advice to
    install a websocket library (`WebSocketAdvice`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"websocket_advice": {"()": f"{__name__}.WebSocketAdvice"}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {"()": f"{__name__}.AccessFormatter"},
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": f"{__name__}.OrderedStreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": f"{__name__}.BufferedStreamHandler",
                "stream": "ext://sys.stdout",
                "interval": interval,
                "capacity": capacity,
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO", "filters": ["websocket_advice"]},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
