"""Run the whole harness against one simulator and say which checks failed.

Used by the meta-tests (is every deliberately broken simulator caught?) and by `python -m
contract_tests.meta`, which prints the table kept in contract_tests/README.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import schemathesis
from schemathesis.engine import Status, events, from_schema
from starlette.types import ASGIApp

from evolink_contract import checks as _checks  # registers the custom schemathesis checks
from evolink_contract.bulk import FOREIGN as BULK_FOREIGN
from evolink_contract.bulk import OWN as BULK_OWN
from evolink_contract.bulk import check_bulk_reads
from evolink_contract.checks import ContractViolation
from evolink_contract.idempotency import CHECK as IDEMPOTENCY_CHECK
from evolink_contract.idempotency import check_idempotency
from evolink_contract.lifecycle import run_lifecycle
from evolink_contract.settings import OWNER, STRANGER, schemathesis_config
from mockserver import Settings
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

from . import mutants
from .callbacks import BODY_CHECK, RETRY_CHECK, AppFactory, check_callbacks

assert _checks


#: Checks that only the callback part reports, and checks that only schemathesis does.
CALLBACK_CHECKS = frozenset({BODY_CHECK, RETRY_CHECK})
#: Checks that only the idempotency check reports, and those only the bulk reads do.
IDEMPOTENCY_CHECKS = frozenset({IDEMPOTENCY_CHECK})
BULK_CHECKS = frozenset({BULK_OWN, BULK_FOREIGN})
SCHEMATHESIS_CHECKS = frozenset(
    {"not_a_server_error", "ignored_auth", "no_undeclared_fields", "response_schema_conformance"}
)


@dataclass(frozen=True)
class Finding:
    check: str
    where: str
    message: str


def schemathesis_findings(
    app: ASGIApp, *, max_examples: int, seed: int = 1, until: str | None = None
) -> list[Finding]:
    """Every check schemathesis (with ours) saw fail, running its engine in-process; with
    `until`, the run stops once that check has failed, without shrinking the failing cases
    (only the check's name is asked for)."""
    config = schemathesis_config(OWNER, max_examples=max_examples, seed=seed, shrink=until is None)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    findings: dict[str, Finding] = {}
    stream = from_schema(schema).execute()
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.name not in findings:
                        message = str(node.failure_info.failure.title) if node.failure_info else ""
                        findings[node.name] = Finding(node.name, event.label or "", message)
            if until in findings:
                stream.stop()  # the next event is the engine's last
        elif isinstance(event, events.FatalError):
            raise RuntimeError(f"schemathesis could not run: {event.exception}")
    return list(findings.values())


def lifecycle_findings(base_url: str, *, max_examples: int) -> list[Finding]:
    try:
        run_lifecycle(base_url, OWNER, STRANGER, max_examples=max_examples, steps=30, shrink=False)
    except ContractViolation as exc:
        return [Finding(exc.check, "lifecycle state machine", str(exc))]
    return []


def idempotency_findings(base_url: str) -> list[Finding]:
    try:
        check_idempotency(base_url, OWNER)
    except ContractViolation as exc:
        return [Finding(exc.check, "idempotency", str(exc))]
    return []


def bulk_findings(base_url: str) -> list[Finding]:
    try:
        check_bulk_reads(base_url, OWNER, STRANGER)
    except ContractViolation as exc:
        return [Finding(exc.check, "bulk reads", str(exc))]
    return []


def callback_findings(make_app: AppFactory) -> list[Finding]:
    try:
        check_callbacks(make_app)
    except ContractViolation as exc:
        return [Finding(exc.check, "callbacks", str(exc))]
    return []


Step = Callable[[], None]


def run_harness(
    mutant: str | None = None, *, max_examples: int = 15, until: str | None = None
) -> list[Finding]:
    """The harness against the clean simulator, or the named mutant of it.

    Its parts run cheapest first (the lifecycle walks, the idempotency check and the bulk reads
    over a socket, the callbacks, then schemathesis). With `until`, which is all a meta-test
    asks (its mutant caught by its check), it stops at the first step whose findings name that
    check; a check that only one step reports (the callbacks, schemathesis, the idempotency
    check, the bulk reads) has that step run first, and schemathesis stops at its first
    failure of the check.
    """

    def make_app(settings: Settings) -> ASGIApp:
        return mutants.build(mutant, settings)

    def caught() -> bool:
        return until is not None and any(f.check == until for f in findings)

    def run(steps: list[Step], sole: dict[str, Step]) -> None:
        first = sole.get(until) if until is not None else None
        for step in steps if first is None else [first, *(s for s in steps if s is not first)]:
            if caught():
                break
            step()

    # seeded: the tasks' plans, and so what the walks see, are the same on every run
    settings = Settings(
        timings=FAST, api_keys=frozenset({OWNER, STRANGER}), clock="virtual", seed=20261204
    )
    findings: list[Finding] = []

    def over_a_socket() -> None:
        with serve_in_thread(make_app(settings)) as base_url:

            def lifecycle() -> None:
                # the machine is cheap (a few ms a step) and its bugs need longer walks to show
                findings.extend(lifecycle_findings(base_url, max_examples=4 * max_examples))

            def idempotency() -> None:
                findings.extend(idempotency_findings(base_url))

            def bulk() -> None:
                findings.extend(bulk_findings(base_url))

            sole = {
                **dict.fromkeys(IDEMPOTENCY_CHECKS, idempotency),
                **dict.fromkeys(BULK_CHECKS, bulk),
            }
            run([lifecycle, idempotency, bulk], sole)

    def callbacks() -> None:
        findings.extend(callback_findings(make_app))

    def in_process() -> None:
        offline = mutants.build(mutant, settings, transport=mutants.OFFLINE)
        findings.extend(schemathesis_findings(offline, max_examples=max_examples, until=until))

    sole = {
        **dict.fromkeys(CALLBACK_CHECKS, callbacks),
        **dict.fromkeys(SCHEMATHESIS_CHECKS, in_process),
    }
    run([over_a_socket, callbacks, in_process], sole)
    return findings


def meta_table(max_examples: int = 15) -> list[tuple[str, str, list[str]]]:
    """(mutant, what it breaks, checks that caught it) for the clean simulator and each mutant."""
    rows = [("(none)", "the simulator as shipped", _caught(None, max_examples))]
    for name in mutants.names():
        rows.append((name, mutants.describe(name), _caught(name, max_examples)))
    return rows


def _caught(mutant: str | None, max_examples: int) -> list[str]:
    return sorted({f.check for f in run_harness(mutant, max_examples=max_examples)})


def markdown(rows: list[tuple[str, str, list[str]]]) -> str:
    lines = ["| mutant | what it breaks | caught by |", "|---|---|---|"]
    for name, description, caught in rows:
        shown = ", ".join(f"`{c}`" for c in caught) if caught else "nothing (passes)"
        lines.append(f"| `{name}` | {description} | {shown} |")
    return "\n".join(lines)


def main() -> int:
    rows = meta_table()
    print(markdown(rows))
    missed = [name for name, _, caught in rows[1:] if not caught]
    clean_failed = rows[0][2]
    if missed or clean_failed:
        print(f"\nNOT CAUGHT: {missed}; clean simulator failed: {clean_failed}", file=sys.stderr)
        return 1
    return 0
