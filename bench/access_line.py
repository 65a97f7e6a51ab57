"""The access line's cost in-process: uvicorn's call on a plain `logging.Logger` beside the same
call on serve's `AccessLogger`, both configured by `log_config()`, alternating rounds.

    python bench/access_line.py                  # 5 rounds of 100,000 lines each, to /dev/null
    python bench/access_line.py --lines 20000 --rounds 3

What is measured is what uvicorn's HTTP protocol does once per response:
`access_logger.info(ACCESS_MESSAGE, client, method, path, http_version, status)`, with the
handler's buffer written to /dev/null as it fills. Prints each round's microseconds per line and
the ratio of the medians (AccessLogger / Logger; below 1 is cheaper).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import statistics
import sys
import time
from collections.abc import Sequence

from mockserver.cli.logging import (
    ACCESS_MESSAGE,
    AccessLogger,
    log_config,
    quiet_log_records,
)

ARGS = ("127.0.0.1:5555", "POST", "/v1/videos/generations", "1.1", 200)


def per_line(logger: logging.Logger, lines: int) -> float:
    """Microseconds per access line logged through `logger`."""
    info = logger.info
    started = time.perf_counter()
    for _ in range(lines):
        info(ACCESS_MESSAGE, *ARGS)
    return (time.perf_counter() - started) / lines * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.rounds < 1:
        parser.error("--lines and --rounds must be positive")
    # the access handler writes to sys.stdout, resolved at configuration; the sink stays open
    # to the end, when logging's shutdown flushes it once more
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    try:
        quiet_log_records()
        logging.config.dictConfig(log_config())
        logger = logging.getLogger("uvicorn.access")
        kinds: dict[str, type[logging.Logger]] = {
            "Logger": logging.Logger,
            "AccessLogger": AccessLogger,
        }
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(args.rounds):
            for name, kind in kinds.items():
                logger.__class__ = kind  # the same logger, handler and formatter
                times[name].append(per_line(logger, args.lines))
        logger.handlers[0].flush()
    finally:
        sys.stdout = sys.__stdout__
    for name, values in times.items():
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<13} us per line, {args.lines} lines a round: {shown}")
    ratio = statistics.median(times["AccessLogger"]) / statistics.median(times["Logger"])
    print(f"AccessLogger / Logger, medians: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
