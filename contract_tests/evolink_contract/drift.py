"""`evolink-contract drift`: a canary that costs nothing. It sends a server only requests the
merged spec says are refused before any paid work (no key, a malformed key, each rule of the
create schema broken once, malformed JSON, a wrong content type, a malformed and an unknown task
id), sends the same ones to an in-process simulator, and names every way the two answers differ.

Every request is checked against the spec before anything is sent: a request the spec would
accept is a bug here, and stops the run (exit 2) with nothing sent. Needs no pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .lifecycle_drift import QUANTILES, LifecycleRow, Waiter, compare, follow, real_wait

if TYPE_CHECKING:
    import httpx

    from mockserver import Spec

EXIT_SAME = 0
EXIT_DIFFERENT = 1
EXIT_REFUSED = 2
#: the distributions this command imports, by the module that would be missing
NEEDS = {"httpx": "httpx", "jsonschema_rs": "jsonschema-rs", "mockserver": "evolink-sora-mock"}
REPORT_VERSION = 1
#: what the simulator side is called with: any key of the vendor's shape is accepted there
SIMULATOR_KEY = "sk-drift-canary"
MALFORMED_KEY = "not-a-key"
CREATE_PATH = "/v1/videos/generations"
#: a create the spec accepts, the base each probe breaks one rule of (never sent as it is)
VALID_CREATE: dict[str, Any] = {
    "model": "sora-2-pro-preview",
    "prompt": "drift canary",
    "aspect_ratio": "16:9",
    "duration": 4,
    "quality": "720p",
}
#: the fields compared, in the table's order
FIELDS = ("status", "code", "type", "param", "message", "shape", "conforms")


@dataclass(frozen=True, slots=True)
class Probe:
    """One request the API must refuse."""

    name: str
    method: str
    path: str
    #: "key": the caller's key; "none": no Authorization header; "malformed": a key of no shape
    auth: str = "key"
    body: bytes | None = None
    content_type: str | None = "application/json"


@dataclass(slots=True)
class Answer:
    """What a server answered a probe, reduced to the fields compared."""

    status: int
    code: str | None = None
    type: str | None = None
    param: str | None = None
    message: str | None = None
    #: the envelope's keys: top level, and the error object's
    shape: str = ""
    #: "yes", or the first way the answer breaks the spec
    conforms: str = "yes"

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(slots=True)
class Row:
    probe: Probe
    refused_because: str
    upstream: Answer
    simulator: Answer
    differences: list[str] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str, str, str]]:
        up, sim = self.upstream, self.simulator
        return [
            (self.probe.name, f, str(getattr(up, f)), str(getattr(sim, f)))
            for f in self.differences
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "probe": self.probe.name,
            "method": self.probe.method,
            "path": self.probe.path,
            "refused_because": self.refused_because,
            "upstream": self.upstream.to_json(),
            "simulator": self.simulator.to_json(),
            "differences": self.differences,
        }


class UnsafeProbe(Exception):
    """A probe the spec would not refuse: it could create a paid task."""


def _create(name: str, auth: str = "key", **changes: Any) -> Probe:
    body = {**VALID_CREATE, **changes}
    return Probe(name, "POST", CREATE_PATH, auth, json.dumps(body).encode())


def model_probes(spec: Spec) -> list[Probe]:
    """Each other model the spec serves, its page's schema broken once: a `duration` its
    `durations` do not list (the base create's model has its own probes above)."""
    found = []
    for model in spec.models:
        if model == VALID_CREATE["model"]:
            continue
        durations = spec.enum("duration", model)
        body = {"model": model, "prompt": VALID_CREATE["prompt"], "duration": max(durations) + 1}
        found.append(
            Probe(f"duration ({model})", "POST", CREATE_PATH, body=json.dumps(body).encode())
        )
    return found


def probes(spec: Spec | None = None) -> list[Probe]:
    """The requests sent, in the report's order: the base create's rules, then each other
    served model's (`spec`, by default the shipped one)."""
    from mockserver import load_spec

    bad_model = {"model": "sora-2-pro-preview-drift"}
    return [
        # the auth probes carry a body the schema refuses too: refused twice over
        _create("no key", auth="none", **bad_model),
        _create("malformed key", auth="malformed", **bad_model),
        _create("model", **bad_model),
        _create("prompt length", prompt="x" * 5001),
        _create("duration", duration=5),
        _create("quality", quality="480p"),
        _create("aspect ratio", aspect_ratio="1:1"),
        _create(
            "image count",
            image_urls=["https://example.com/a.jpg", "https://example.com/b.jpg"],
        ),
        _create("image URL", image_urls=["not a url"]),
        _create("callback URL", callback_url="http://example.com/callback"),
        Probe("malformed JSON", "POST", CREATE_PATH, body=b'{"model": "sora-2-pro-preview", '),
        Probe(
            "wrong content type",
            "POST",
            CREATE_PATH,
            body=json.dumps({"model": VALID_CREATE["model"]}).encode(),
            content_type="text/plain",
        ),
        *model_probes(spec or load_spec()),
        Probe("malformed task id", "GET", "/v1/tasks/not-a-task-id"),
        Probe("unknown task id", "GET", "/v1/tasks/task-unified-1700000000-drift000"),
    ]


def refusal(probe: Probe, spec: Spec) -> str:
    """Why the spec refuses `probe` before any paid work; UnsafeProbe if it might not."""
    operation = spec.operation_of(probe.method, probe.path)
    if operation is None:
        raise UnsafeProbe(f"{probe.name}: {probe.method} {probe.path} is not in the spec")
    if probe.method == "GET":
        return "a query: it creates nothing"
    try:
        body = json.loads(probe.body or b"")
    except ValueError:
        return "the body is not JSON"
    errors = spec.request_errors(body)
    if not errors:
        raise UnsafeProbe(f"{probe.name}: the spec accepts this create body; it could be charged")
    reason = "; ".join(str(e) for e in errors[:2])
    return reason if len(reason) <= 120 else reason[:117] + "..."


def answer_of(response: httpx.Response, operation: str, spec: Spec) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    found = Answer(status=response.status_code)
    if isinstance(body, dict):
        error = body.get("error")
        keys = ",".join(sorted(body))
        if isinstance(error, dict):
            found.code, found.type = error.get("code"), error.get("type")
            found.param, found.message = error.get("param"), error.get("message")
            keys = keys.replace("error", "error{" + ",".join(sorted(error)) + "}", 1)
        found.shape = "{" + keys + "}"
    else:
        found.shape = "not a JSON object"
    problems = spec.response_problems(operation, response.status_code, body)
    found.conforms = "yes" if not problems else problems[0]
    return found


async def _send(client: httpx.AsyncClient, probe: Probe, key: str) -> httpx.Response:
    headers = {}
    if probe.auth == "key":
        headers["Authorization"] = f"Bearer {key}"
    elif probe.auth == "malformed":
        headers["Authorization"] = f"Bearer {MALFORMED_KEY}"
    if probe.body is not None and probe.content_type is not None:
        headers["Content-Type"] = probe.content_type
    return await client.request(probe.method, probe.path, content=probe.body, headers=headers)


async def run(
    base_url: str,
    api_key: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    paid: bool = False,
    poll: float = 10.0,
    timeout: float = 900.0,
    upstream_wait: Waiter = real_wait,
) -> list[Row | LifecycleRow]:
    """Every probe, to the server at `base_url` and to a fresh in-process simulator; with
    `paid`, then one real task followed to its end on both (`poll`, `timeout`: seconds)."""
    import httpx

    from mockserver import Settings, VideoRequest, create_app, load_spec

    spec = load_spec()
    checked = [(probe, refusal(probe, spec)) for probe in probes(spec)]  # all, before sending
    settings = Settings(clock="virtual", seed=0)
    app = create_app(settings)
    rows: list[Row | LifecycleRow] = []
    async with (
        httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=30, transport=transport) as up,
        httpx.AsyncClient(
            base_url="http://simulator", transport=httpx.ASGITransport(app=app)
        ) as sim,
    ):
        for probe, because in checked:
            operation = spec.operation_of(probe.method, probe.path) or ""
            theirs = answer_of(await _send(up, probe, api_key), operation, spec)
            ours = answer_of(await _send(sim, probe, SIMULATOR_KEY), operation, spec)
            row = Row(probe, because, theirs, ours)
            row.differences = [f for f in FIELDS if getattr(theirs, f) != getattr(ours, f)]
            rows.append(row)
        if paid:
            body = json.dumps(VALID_CREATE).encode()

            async def advance(seconds: float) -> float:
                await sim.post("/_mock/clock/advance", json={"seconds": seconds})
                return seconds

            theirs_run = await follow(up, api_key, body, upstream_wait, poll=poll, timeout=timeout)
            ours_run = await follow(sim, SIMULATOR_KEY, body, advance, poll=poll, timeout=timeout)
            # the range the in-process simulator's own timings state for this create
            stated = settings.timings.quantiles(VideoRequest(**VALID_CREATE), QUANTILES)
            rows.append(compare(theirs_run, ours_run, stated))
    return rows


def models_line(rows: Sequence[Row | LifecycleRow]) -> str:
    """Which served models the refused creates exercised, and by which rows."""
    from mockserver import load_spec

    spec = load_spec()
    by_model: dict[str, list[str]] = {model: [] for model in spec.models}
    for row in rows:
        if isinstance(row, Row) and row.probe.method == "POST":
            try:
                model = json.loads(row.probe.body or b"").get("model")
            except (ValueError, AttributeError):
                continue
            if model in by_model:
                by_model[model].append(row.probe.name)
    listed = "; ".join(
        f"{model}: {', '.join(names) or 'none'}" for model, names in by_model.items()
    )
    return f"rows by model: {listed}"


def table(rows: Sequence[Row | LifecycleRow]) -> str:
    """The differences, one line each: request, field, upstream's value, the simulator's."""
    lines = [line for row in rows for line in row.lines()]
    if not lines:
        return f"no differences: {len(rows)} requests, each refused alike"
    header = ("request", "field", "upstream", "simulator")
    cut = [tuple(cell if len(cell) <= 70 else cell[:67] + "..." for cell in line) for line in lines]
    widths = [max(len(line[i]) for line in [header, *cut]) for i in range(4)]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cut]
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append(
        f"{len(lines)} differences in {sum(1 for r in rows if r.differences)} "
        f"of {len(rows)} requests"
    )
    return "\n".join(out)


def report(base_url: str, rows: Sequence[Row | LifecycleRow]) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "base_url": base_url,
        "requests": len(rows),
        "differences": sum(len(r.differences) for r in rows),
        "rows": [r.to_json() for r in rows],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evolink-contract drift",
        description=(
            "Send a server only requests the spec says it refuses before any paid work, send "
            "the same to an in-process simulator, and print how the answers differ."
        ),
        epilog="Exit status: 0 no difference, 1 a difference, 2 refused or bad usage.",
    )
    parser.add_argument("--base-url", required=True, help="the server, e.g. https://api.evolink.ai")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("EVOLINK_API_KEY"),
        help="bearer key (default: $EVOLINK_API_KEY); only refused requests carry it",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report here")
    parser.add_argument(
        "--allow-paid-creates",
        action="store_true",
        help=(
            "also create ONE real task (4 s, 720p: the cheapest; it is charged) and compare its "
            "lifecycle with the simulator's"
        ),
    )
    parser.add_argument(
        "--poll-interval", type=float, default=10.0, help="seconds between polls (default: 10)"
    )
    parser.add_argument(
        "--lifecycle-timeout",
        type=float,
        default=900.0,
        help="seconds to follow the paid task before giving up (default: 900)",
    )
    return parser


def missing() -> list[str]:
    return [dist for module, dist in NEEDS.items() if importlib.util.find_spec(module) is None]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lacking = missing()
    if lacking:
        print(f"evolink-contract drift: error: pip install {' '.join(lacking)}", file=sys.stderr)
        return EXIT_REFUSED
    if not args.api_key:
        print(
            "evolink-contract drift: error: no API key: pass --api-key or set EVOLINK_API_KEY",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    import httpx

    if not (args.poll_interval > 0 and args.lifecycle_timeout > 0):
        print(
            "evolink-contract drift: error: --poll-interval and --lifecycle-timeout must be "
            "positive",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        rows = asyncio.run(
            run(
                args.base_url,
                args.api_key,
                paid=args.allow_paid_creates,
                poll=args.poll_interval,
                timeout=args.lifecycle_timeout,
            )
        )
    except UnsafeProbe as exc:
        print(f"evolink-contract drift: error: nothing sent: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except httpx.HTTPError as exc:
        print(f"evolink-contract drift: error: {args.base_url}: {exc!r}", file=sys.stderr)
        return EXIT_REFUSED
    print(table(rows))
    print(models_line(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(report(args.base_url, rows), indent=2) + "\n")
    return EXIT_DIFFERENT if any(r.differences for r in rows) else EXIT_SAME
