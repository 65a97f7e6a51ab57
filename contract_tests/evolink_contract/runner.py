"""`evolink-contract`: the contract suite against any server, with JUnit XML for CI.

Against the simulator (found by its /_mock/health) or a loopback address it runs at once. Against
anything else it would create real, paid video tasks, so it says so and stops unless given
--allow-paid-creates; it sends no create before that.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LIVE = Path(__file__).with_name("live")
EXIT_REFUSED = 2
#: What the live suite imports beyond the package's own dependencies: the `contract` extra.
SUITE_NEEDS = ("pytest", "schemathesis", "hypothesis")
INSTALL_HINT = (
    "pip install 'evolink-sora-mock[contract]' (from a checkout: pip install '.[contract]')"
)


def missing_modules() -> list[str]:
    """The modules the live suite needs that are not installed (checked without importing)."""
    return [name for name in SUITE_NEEDS if importlib.util.find_spec(name) is None]


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _health(base_url: str) -> dict[str, object]:
    """The server's `/_mock/health` (a GET: costs nothing); {} when it has none."""
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/_mock/health", timeout=5)
        found = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}
    return found if isinstance(found, dict) and found.get("status") == "ok" else {}


def is_simulator(base_url: str) -> bool:
    """True when the server answers the simulator's health route, and is not a proxy."""
    health = _health(base_url)
    return bool(health) and health.get("mode") != "proxy"


def paid_behind(base_url: str) -> str | None:
    """The upstream of an `evolink-mock proxy` at `base_url`, if it is not loopback: a proxy on
    this machine in front of the live API still creates paid tasks."""
    health = _health(base_url)
    upstream = health.get("upstream") if health.get("mode") == "proxy" else None
    return upstream if isinstance(upstream, str) and not is_loopback(upstream) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evolink-contract",
        description=(
            "Run the Evolink Sora-2-Pro contract suite (schemathesis per operation, the "
            "create->query stateful run, and the async-job state machine) against a server."
        ),
        epilog=(
            "Exit status: 0 all passed, 1 a check failed, 2 refused or bad usage. "
            "`evolink-contract drift --help`: the free canary against the live API."
        ),
    )
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("EVOLINK_API_KEY"),
        help="bearer key (default: $EVOLINK_API_KEY)",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=30,
        help="examples per operation and phase (default: 30)",
    )
    parser.add_argument("--seed", type=int, help="schemathesis seed, to replay a run")
    parser.add_argument(
        "--allow-paid-creates",
        action="store_true",
        help=(
            "needed for a server that is neither loopback nor the simulator: "
            "creates cost money there"
        ),
    )
    return parser


def failing_checks(junit: Path) -> list[tuple[str, list[str]]]:
    """(test case, names of the checks that failed in it) from a JUnit file."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for failure in [*case.findall("failure"), *case.findall("error")]:
            text = f"{failure.get('message', '')}\n{failure.text or ''}"
            names = re.findall(r"\b(ST\d{3} [^\n|]+?)\s*$", text, re.M)
            names += re.findall(r"ContractViolation: (\w+):", text)
            found.append(
                (
                    case.get("name", "?"),
                    sorted({n.strip() for n in names})
                    or [text.strip().splitlines()[0][:200] if text.strip() else "error"],
                )
            )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["drift"]:  # the canary needs none of the suite's extras
        from . import drift

        return drift.main(argv[1:])
    args = build_parser().parse_args(argv)
    missing = missing_modules()
    if missing:
        print(
            f"evolink-contract: error: the contract suite needs {', '.join(missing)}: "
            f"{INSTALL_HINT}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if not args.api_key:
        print(
            "evolink-contract: error: no API key: pass --api-key or set EVOLINK_API_KEY",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if args.max_examples < 1:
        print("evolink-contract: error: --max-examples must be at least 1", file=sys.stderr)
        return EXIT_REFUSED
    base_url = args.base_url.rstrip("/")
    behind = paid_behind(base_url)
    if behind is not None and not args.allow_paid_creates:
        print(
            f"evolink-contract: {base_url} is a proxy in front of {behind}, where each task "
            "created is charged. No task was created. Re-run with --allow-paid-creates to go "
            "ahead.",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if not (is_loopback(base_url) or is_simulator(base_url)) and not args.allow_paid_creates:
        print(
            f"evolink-contract: {base_url} is not the simulator (it did not answer "
            "GET /_mock/health). This suite creates video tasks there, many of them (fewer with a "
            "smaller --max-examples), and on the real API each one is charged. No task was "
            "created. Re-run with --allow-paid-creates to go ahead.",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    os.environ.update(
        EVOLINK_CONTRACT_PAID="0" if is_simulator(base_url) else "1",
        EVOLINK_CONTRACT_BASE_URL=base_url,
        EVOLINK_CONTRACT_API_KEY=args.api_key,
        EVOLINK_CONTRACT_MAX_EXAMPLES=str(args.max_examples),
    )
    if args.seed is not None:
        os.environ["EVOLINK_CONTRACT_SEED"] = str(args.seed)
    junit = (
        args.junit or Path(os.environ.get("TMPDIR", "/tmp")) / f"evolink-contract-{os.getpid()}.xml"
    )

    import pytest

    # The live suite is configured by its own pytest.ini alone: a caller's PYTEST_ADDOPTS (a
    # coverage run of the calling suite, say) would otherwise apply to it as well.
    addopts = os.environ.pop("PYTEST_ADDOPTS", None)
    try:
        code = pytest.main(
            [
                "-c",
                str(LIVE / "pytest.ini"),
                "--rootdir",
                str(LIVE),
                str(LIVE),
                f"--junitxml={junit}",
                "-q",
            ]
        )
    finally:
        if addopts is not None:
            os.environ["PYTEST_ADDOPTS"] = addopts
    if junit.exists():
        for name, checks in failing_checks(junit):
            print(f"FAILED {name}: {'; '.join(checks)}", file=sys.stderr)
        if args.junit is None:
            junit.unlink()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
