"""`evolink-mock`: serve the simulator, proxy the live API, or print the merged OpenAPI document."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import ipaddress
import json
import logging
import os
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..delivery.signing import decode_secret
from ..delivery.ssrf import CallbackPolicy, parse_allow_entry
from ..domain.chaos import Chaos, ChaosError, parse_chaos
from ..domain.files import MAX_UPLOAD_BYTES
from ..domain.models import Models, load_models, shipped_models
from ..domain.profiles import ConfigError
from ..domain.recording import RecordedTask, recorded_tasks
from ..domain.scenarios import TRIGGERS, ScenarioError, catalogue, markdown_table, parse_scenario
from ..domain.timing import VENDOR
from ..settings import VENDOR_KEY_SHAPE, Settings
from ..spec import load_spec
from .config import Config, load_config, load_timings

log = logging.getLogger("mockserver")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def _allow_entry(text: str) -> str:
    try:
        parse_allow_entry(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _ca_file(text: str) -> str:
    try:
        ssl.create_default_context(cafile=text)
    except (OSError, ssl.SSLError) as exc:
        raise argparse.ArgumentTypeError(
            f"cannot load CA certificates from {text!r}: {exc}"
        ) from None
    return text


def _secret(text: str) -> str:
    try:
        decode_secret(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to 64: {text!r}")
    return int(text)


def _store_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://")):
        raise argparse.ArgumentTypeError(f"expected redis://HOST:PORT/DB, got {text!r}")
    return text


def _api_key(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError("an API key must be non-empty and contain no spaces")
    return text


def _chaos(text: str) -> Chaos:
    try:
        chaos = parse_chaos(text)
        for name in chaos.scenarios:
            parse_scenario(name, load_spec())
    except (ChaosError, ScenarioError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return chaos


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evolink-mock",
        description=(
            "An offline simulator of Evolink's Sora video generation API, each model from its "
            "vendored page."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the API over HTTP",
        description=(
            "Serve POST /v1/videos/generations and GET /v1/tasks/{task_id} as Evolink does, "
            "the merged spec at /openapi.json, and admin routes under /_mock/."
        ),
    )
    serve.add_argument(
        "--host",
        # the image sets it to 0.0.0.0, so that `serve --clock virtual` as a container's
        # command is reachable through its published port like the default command
        default=os.environ.get(HOST_ENV) or "127.0.0.1",
        help=f"interface to listen on (default: ${HOST_ENV}, else 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on; 0 picks a free one (default: 8000)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        type=_api_key,
        metavar="KEY",
        help=(
            "accept only this bearer key (repeatable); by default any key shaped like the "
            "vendor's (sk- then letters, digits, - or _) is accepted, and others get the "
            "documented 401"
        ),
    )
    serve.add_argument(
        "--any-key",
        action="store_true",
        help="without --api-key: accept any non-empty key, whatever its shape",
    )
    serve.add_argument(
        "--clock",
        choices=["real", "virtual"],
        default="real",
        help=(
            "real: time flows (see --speed); virtual: time moves only by "
            "POST /_mock/clock/advance (default: real)"
        ),
    )
    serve.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help=(
            "real clock only: simulated seconds per real second; 60 turns a task's minute "
            "into a second (default: 1)"
        ),
    )
    serve.add_argument(
        "--start-time",
        type=float,
        metavar="UNIX_SECONDS",
        help="simulated time to start at (default: now)",
    )
    serve.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=(
            'TOML file of per-key profiles ([defaults], [keys."KEY"]: credits, rate, burst, '
            "max_concurrent, models, scenario), [moderation] rules, [pricing], [timings] and "
            "[models] (serve: which models, dirs: more model folders); see docs/reference/config.md"
        ),
    )
    serve.add_argument(
        "--models-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help=(
            "also serve the models of DIR: a <model>.toml data file each, naming its vendored "
            "page (and a videos/ folder for frame sizes the bundled videos lack); see "
            "docs/models.md. Repeatable. [models] serve in --config picks which are served"
        ),
    )
    serve.add_argument(
        "--timings",
        metavar="NAME|FILE",
        help=(
            "how long tasks take: 'vendor' (3-5 minutes, with a spread and occasional stalls, "
            "as the live service), 'fast' (5 s queued, then 10 s per second of video, 15 s at "
            "1080p; no spread), or a TOML file of a profile (docs/reference/config.md). "
            "Default: [timings] of --config, else vendor"
        ),
    )
    serve.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help=(
            "seed every random choice (plans, task ids, webhook ids): the same seed and "
            "requests give the same run (default: unseeded)"
        ),
    )
    serve.add_argument(
        "--chaos",
        type=_chaos,
        metavar="rate=R,scenarios=A|B,seed=N",
        help=(
            "fail that fraction of the vendor's requests with a scenario drawn from the list "
            "(e.g. rate=0.05,scenarios=http:500|drop|latency:200-2000,seed=42), the same ones "
            "again with the same seed; each is journaled as chaos:SCENARIO. A key's chaos in "
            "--config wins over it"
        ),
    )
    serve.add_argument(
        "--prompt-markers",
        action="store_true",
        help=(
            "apply a scenario named in a prompt as [mock:NAME], for clients whose headers "
            "you cannot set"
        ),
    )
    serve.add_argument(
        "--callback-allow",
        action="append",
        type=_allow_entry,
        default=[],
        metavar="HOST[:PORT]",
        help=(
            "let callbacks go to this host (any port, or only PORT), private or loopback as it "
            "may be (repeatable); by default only public addresses are allowed"
        ),
    )
    serve.add_argument(
        "--callback-allow-http",
        action="store_true",
        help="accept http:// callback URLs too (by default https:// only, as the vendor)",
    )
    serve.add_argument(
        "--callback-ca-file",
        type=_ca_file,
        metavar="PATH",
        help="PEM file of CA certificates to trust for callbacks, beside the system's",
    )
    serve.add_argument(
        "--callback-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help=(
            "real seconds to wait for a callback receiver's answer (default: 10, the vendor's); "
            "on the virtual clock an attempt that times out still lasts 10 simulated seconds"
        ),
    )
    serve.add_argument(
        "--callback-secret",
        type=_secret,
        metavar="whsec_...",
        help=(
            "sign callbacks the Standard Webhooks way (webhook-id, webhook-timestamp, "
            "webhook-signature) with this secret; by default they are unsigned, as the vendor's"
        ),
    )
    serve.add_argument(
        "--fetch-images",
        action="store_true",
        help=(
            "fetch each create's image_urls (under the callback address rules and "
            "--callback-allow) and fail the task image_processing_error or "
            "image_dimension_mismatch as the vendor does: jpg/png/webp by content, at most "
            "10 MB, the requested aspect ratio. Default: off (nothing is fetched)"
        ),
    )
    serve.add_argument(
        "--max-upload-mb",
        type=_positive_float,
        default=MAX_UPLOAD_BYTES / 2**20,
        metavar="MB",
        help=(
            "the largest file the files API takes, in MiB (default: %(default)g; the vendor "
            "allows 100): a larger upload is a 413, refused before its body is read past it"
        ),
    )
    serve.add_argument(
        "--db",
        metavar="PATH",
        help=(
            "keep the state in this SQLite file (created if missing), so that a restart, even "
            "after kill -9, continues where it stopped: tasks (each written before its create "
            "is answered), the clock, callback deliveries (pending retries resume with the same "
            "webhook-id; tasks that ended while the server was down are settled and called back "
            "at startup) and the last 10,000 journal entries; balances follow from the tasks. "
            "The stored clock wins over --clock, --speed and --start-time, which only shape a "
            "new file. Admin faults and rate-limit buckets are not kept. POST /_mock/reset "
            "empties the file too. Default: in memory only"
        ),
    )
    serve.add_argument(
        "--store",
        type=_store_url,
        metavar="redis://HOST:PORT/DB",
        help=(
            "keep the state in Redis, where several evolink-mock processes share it: tasks, "
            "accounts and reservations, rate-limit buckets, faults, the journal, callback "
            "deliveries and the clock; each check-and-change is atomic in Redis. Needs the "
            "redis extra (pip install 'evolink-sora-mock[redis]'). Default: in this process"
        ),
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help=(
            "serve from N processes on one socket; needs --store redis://... so that they "
            "share one state (default: 1)"
        ),
    )
    serve.add_argument(
        "--admin-token",
        type=_api_key,
        metavar="TOKEN",
        help=(
            "put every /_mock/* route (but /_mock/health, the result videos and the dashboard's "
            "page, which asks for it) behind Authorization: Bearer TOKEN; default: "
            f"${ADMIN_TOKEN_ENV}, else open. Required with a --host that is not loopback"
        ),
    )
    serve.add_argument(
        "--admin-open",
        action="store_true",
        help=(
            "serve the /_mock/* routes without a token on a --host that is not loopback "
            "(anyone who can reach the server can reset it, move its clock, read its journal)"
        ),
    )
    serve.add_argument(
        "--isolate-keys",
        action="store_true",
        help=(
            "each API key its own world: its own virtual clock, faults, journal, callbacks, "
            "accounts and reset; admin routes take ?api_key=KEY for one world and act on all "
            "without it. In memory: not with --db"
        ),
    )
    serve.add_argument(
        "--no-metrics",
        action="store_true",
        help="count nothing for GET /_mock/metrics (which then answers 404)",
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        default="info",
        help="server log level (default: info)",
    )

    serve.add_argument(
        "--replay",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help=(
            "a recording of `proxy --record` (repeatable): its tasks come back on this clock, "
            "readable with any accepted key, and a create with a recorded create's request "
            "replays that lifecycle under a new id"
        ),
    )

    proxy = commands.add_parser(
        "proxy",
        help="forward the API to an upstream, validating and recording",
        description=(
            "Forward the vendor's routes (and result videos) to --upstream with the caller's "
            "own key; check each request and answer against the merged spec (violations are "
            "logged and journaled at /_mock/requests); record the exchanges with --record."
        ),
    )
    proxy.add_argument(
        "--upstream", required=True, metavar="URL", help="e.g. https://api.evolink.ai"
    )
    proxy.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="append each exchange to FILE (JSON lines, openapi/recording.schema.json; no key)",
    )
    proxy.add_argument(
        "--record-media",
        action="store_true",
        help="with --record: save result videos beside FILE, in FILE.media/",
    )
    proxy.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    proxy.add_argument("--port", type=_port, default=8000, help="port; 0 picks a free one")
    proxy.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        default="info",
        help="server log level (default: info)",
    )

    scenarios = commands.add_parser(
        "scenarios",
        help="list every scenario: name, effect, and how to trigger it",
        description="List the scenario catalogue. " + TRIGGERS,
    )
    scenarios.add_argument(
        "--markdown",
        action="store_true",
        help="print the catalogue as a Markdown table (the docs' scenario catalogue)",
    )
    spec = commands.add_parser(
        "spec",
        help="print the merged OpenAPI document (JSON) the server validates against",
        description="Print the merged OpenAPI document, the same one served at /openapi.json.",
    )
    spec.add_argument(
        "--models-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="the document serve --models-dir DIR would serve (repeatable)",
    )
    return parser


#: The environment variable that gives `--admin-token` (kept out of `ps` and shell history).
ADMIN_TOKEN_ENV = "EVOLINK_MOCK_ADMIN_TOKEN"
#: The environment variable that gives `serve --host` its default (the container image's).
HOST_ENV = "EVOLINK_MOCK_HOST"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name or a wildcard: reachable from elsewhere, as far as we know


def admin_token(args: argparse.Namespace) -> str | None:
    """The admin token of `--admin-token` or the environment; refuses a non-loopback host
    without one unless `--admin-open` says so."""
    token: str | None = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
    if token is not None:
        try:
            _api_key(token)
        except argparse.ArgumentTypeError:
            raise SystemExit(
                f"evolink-mock: error: ${ADMIN_TOKEN_ENV}: an admin token must be non-empty "
                "and contain no spaces"
            ) from None
    host = getattr(args, "host", "127.0.0.1")
    if token is None and not is_loopback_host(host) and not args.admin_open:
        if os.environ.get(ADMIN_TOKEN_ENV) == "":
            # set but empty: most often a secret that did not reach the container or the job
            raise SystemExit(
                f"evolink-mock: error: ${ADMIN_TOKEN_ENV} is set but empty, and --host {host} "
                "is not loopback: give it a token to protect /_mock/*, or pass --admin-open "
                "to leave it open"
            )
        raise SystemExit(
            f"evolink-mock: error: --host {host} is not loopback: pass --admin-token TOKEN "
            f"(or set {ADMIN_TOKEN_ENV}) to protect /_mock/*, or --admin-open to leave it open"
        )
    return token


def settings_from(args: argparse.Namespace) -> Settings:
    if args.speed != 1.0 and args.clock == "virtual":
        raise SystemExit("evolink-mock: error: --speed applies to the real clock only")
    if args.isolate_keys and args.db:
        raise SystemExit("evolink-mock: error: --isolate-keys keeps its worlds in memory: not --db")
    try:
        config = load_config(args.config) if args.config else Config()
        profiles = config.profiles
        for key, profile in [("defaults", profiles.default), *profiles.keys.items()]:
            if profile.scenario:
                try:
                    parse_scenario(profile.scenario, load_spec())
                except ScenarioError as exc:
                    raise ConfigError(f"{args.config}: {key}.scenario: {exc}") from None
            for name in profile.chaos.scenarios if profile.chaos else ():
                try:
                    parse_scenario(name, load_spec())
                except ScenarioError as exc:
                    raise ConfigError(f"{args.config}: {key}.chaos: {exc}") from None
    except ConfigError as exc:
        raise SystemExit(f"evolink-mock: error: --config {exc}") from None
    try:
        timings = load_timings(args.timings) if args.timings else config.timings
    except ConfigError as exc:
        raise SystemExit(f"evolink-mock: error: --timings {exc}") from None
    models = served_models(config, args.models_dir)
    return Settings(
        models=models,
        profiles=profiles,
        pricing=config.pricing,
        timings=timings or VENDOR,
        seed=args.seed,
        prompt_markers=args.prompt_markers,
        api_keys=frozenset(args.api_key) if args.api_key else None,
        key_shape=None if args.any_key else VENDOR_KEY_SHAPE,
        clock=args.clock,
        speed=args.speed,
        start_time=args.start_time,
        callback_allow=frozenset(args.callback_allow),
        callback_allow_http=args.callback_allow_http,
        callback_ca_file=args.callback_ca_file,
        callback_secret=args.callback_secret,
        callback_timeout=args.callback_timeout,
        fetch_images=args.fetch_images,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        db_path=args.db,
        store_url=args.store,
        admin_token=admin_token(args),
        metrics=not args.no_metrics,
        chaos=args.chaos,
        isolate_keys=args.isolate_keys,
        replay=recorded(args.replay),
    )


def served_models(config: Config, folders: Sequence[Path]) -> Models:
    """The shipped models, those of `[models] dirs` and `--models-dir`, `[models] serve` of
    them, each checked now, its result videos too: a mistake is one line naming the file and
    field, and the exit."""
    from ..web.vendor import check_videos

    try:
        if not folders and not config.model_dirs and config.serve is None:
            models = shipped_models()
        else:
            models = load_models([*config.model_dirs, *folders], config.serve)
        check_videos(models)
        if config.pricing is not None:
            models.priced(config.pricing)
    except ValueError as exc:
        raise SystemExit(f"evolink-mock: error: {exc}") from None
    return models


def recorded(files: Sequence[Path]) -> tuple[RecordedTask, ...]:
    """The recorded tasks of `--replay` files, in order; a file that cannot be read stops."""
    from ..storage.recording import media_paths, read_recording

    found: list[RecordedTask] = []
    for path in files:
        try:
            found += [
                dataclasses.replace(task, media=media_paths(path, task.media))
                for task in recorded_tasks(read_recording(path))
            ]
        except (OSError, ValueError) as exc:
            raise SystemExit(f"evolink-mock: error: --replay {exc}") from None
    return tuple(found)


def proxy(args: argparse.Namespace) -> None:
    import uvicorn

    from ..service.proxy import Proxy
    from ..storage.recording import RecordingWriter
    from ..web.proxy import create_proxy_app
    from .logging import log_config

    if args.record_media and args.record is None:
        raise SystemExit("evolink-mock: error: --record-media needs --record FILE")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    recorder = RecordingWriter(args.record) if args.record is not None else None
    app = create_proxy_app(
        Proxy(args.upstream, load_spec(), recorder=recorder, record_media=args.record_media)
    )
    log.info(
        "evolink-mock: proxy to %s%s",
        args.upstream,
        f", recording to {args.record}" if recorder else "",
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_config=log_config(), log_level=args.log_level
    )


#: Seconds between two moves of long-lived objects out of the garbage collector's sight.
GC_FREEZE_INTERVAL = 1.0


def freeze_garbage_collection(
    interval: float = GC_FREEZE_INTERVAL, stop: threading.Event | None = None
) -> threading.Thread:
    """Keep full collections short in a long-running server: every `interval` seconds (until
    `stop` is set), collect the young generations and freeze what survives (`gc.freeze`), so
    that a full collection no longer walks every stored task (100+ ms at 50,000 tasks
    otherwise). Only for a server process: in a test process it would pin other tests'
    garbage."""
    stopped = stop or threading.Event()

    def run() -> None:
        while not stopped.wait(interval):
            gc.collect(1)  # young garbage first: what is frozen is never collected
            gc.freeze()

    thread = threading.Thread(target=run, name="gc-freeze", daemon=True)
    thread.start()
    return thread


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from ..domain.clock import RealClock
    from ..service.simulator import Simulator
    from ..storage.base import StoreUnavailable
    from ..storage.sqlite import DatabaseError
    from ..web.app import create_app
    from .logging import OrderedStreamHandler, fast_access_logger, log_config, quiet_log_records

    settings = settings_from(args)
    if args.workers > 1 and settings.store_url is None:
        raise SystemExit(
            f"evolink-mock: error: --workers {args.workers} would split the state between "
            f"{args.workers} processes, each with its own tasks and clock: keep it in Redis "
            "with --store redis://HOST:PORT/DB"
        )
    freeze_garbage_collection()
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s: %(message)s",
        handlers=[OrderedStreamHandler()],  # after the access lines logged before it
    )
    quiet_log_records()
    fast_access_logger()
    try:
        simulator = Simulator(settings)
        # opened here, not in the server's startup, so that a store that cannot serve is one
        # line of error (the lifespan finds it open)
        asyncio.run(simulator.open())
    except DatabaseError as exc:
        raise SystemExit(f"evolink-mock: error: --db {exc}") from None
    except StoreUnavailable as exc:
        raise SystemExit(f"evolink-mock: error: --store {exc}") from None
    except ValueError as exc:  # a recorded task of a model not served, say
        raise SystemExit(f"evolink-mock: error: {exc}") from None
    if settings.api_keys is not None:
        keys = f"{len(settings.api_keys)} key(s)"
    else:
        keys = "any non-empty key" if settings.key_shape is None else "any sk-... key"
    sim_clock = simulator.clock
    clock = (
        f"real clock x{sim_clock.speed:g}" if isinstance(sim_clock, RealClock) else "virtual clock"
    )
    log.info("evolink-mock: %s, accepting %s", clock, keys)
    log.info("evolink-mock: models %s", ", ".join(simulator.models.names))
    if settings.isolate_keys:
        log.info("evolink-mock: isolated keys: each key its own clock, faults, journal, callbacks")
    if settings.admin_token is None and not is_loopback_host(args.host):
        log.warning(
            "evolink-mock: --admin-open: /_mock/* is open to anyone who can reach %s "
            "(reset, clock, faults, journal); pass --admin-token to protect it",
            args.host,
        )
    if settings.db_path is not None:
        loaded = asyncio.run(simulator.store.count_tasks())
        log.info("evolink-mock: state in %s, %d task(s) loaded", settings.db_path, loaded)
    policy = CallbackPolicy.from_entries(
        settings.callback_allow, allow_http=settings.callback_allow_http
    )
    signing = "signed" if settings.callback_secret else "unsigned"
    log.info("evolink-mock: callbacks %s, %s", policy.describe(), signing)
    if settings.chaos is not None:
        log.info("evolink-mock: chaos %s", settings.chaos.describe())
    server: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": log_config(),  # uvicorn's, with a cheap, buffered access line
        "log_level": args.log_level,
        # the app has no websocket route: an upgrade is answered as plain HTTP, and start-up
        # does not import a websockets implementation (about 25 ms)
        "ws": "none",
    }
    if args.workers > 1:
        simulator.close()  # each worker opens its own, on the same Redis
        os.environ[WORKER_ARGV] = json.dumps(getattr(args, "argv", []))
        log.info("evolink-mock: %d workers sharing %s", args.workers, settings.store_url)
        uvicorn.run("mockserver.cli.main:worker_app", factory=True, workers=args.workers, **server)
        return
    try:
        uvicorn.run(create_app(simulator=simulator), **server)
    finally:
        simulator.close()  # the lifespan closed it already, unless startup failed


#: Where `serve --workers N` hands its command line to the worker processes.
WORKER_ARGV = "EVOLINK_MOCK_WORKER_ARGV"


def worker_app() -> Any:
    """One worker of `serve --workers N` (an app factory uvicorn imports in each process):
    the same settings, its own simulator on the shared store."""
    from ..service.simulator import Simulator
    from ..web.app import create_app
    from .logging import fast_access_logger, quiet_log_records

    args = build_parser().parse_args(json.loads(os.environ[WORKER_ARGV]))
    quiet_log_records()
    fast_access_logger()  # on the logger uvicorn configured in this process
    freeze_garbage_collection()
    return create_app(simulator=Simulator(settings_from(args)))


def print_scenarios() -> None:
    entries = catalogue(load_spec())
    width = max(len(e.name) for e in entries)
    print(f"{'SCENARIO':<{width}}  EFFECT")
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.effect}")
        print(f"{'':<{width}}  trigger: X-Mock-Scenario: {entry.trigger}")
    print()
    print(TRIGGERS)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(given)
    args.argv = given
    if args.command == "proxy":
        proxy(args)
    elif args.command == "serve":
        serve(args)
    else:
        try:
            print_listing(args)
            sys.stdout.flush()
        except BrokenPipeError:
            stop_at_closed_pipe()


def print_listing(args: argparse.Namespace) -> None:
    """`scenarios` and `spec`: what they print on stdout."""
    if args.command == "scenarios" and args.markdown:
        print(markdown_table(load_spec()))
    elif args.command == "scenarios":
        print_scenarios()
    else:
        document = served_models(Config(), args.models_dir).spec.document
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")


def stop_at_closed_pipe() -> NoReturn:
    """The reader of stdout went away (`evolink-mock spec | head`): stop quietly, as `cat`
    does, rather than with a traceback (the recipe of Python's `signal` documentation: what
    is left in stdout's buffer goes to /dev/null, so the flush at exit cannot fail again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(1)


if __name__ == "__main__":
    main()
