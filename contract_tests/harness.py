"""Run the whole harness against one simulator and say which checks failed.

Used by the meta-tests (is every deliberately broken simulator caught?) and by `python -m
contract_tests.meta`, which prints the table kept in contract_tests/README.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import schemathesis
from schemathesis.engine import Status, events, from_schema
from starlette.types import ASGIApp

from evolink_contract import checks as _checks  # registers the custom schemathesis checks
from evolink_contract.bulk import check_bulk_reads
from evolink_contract.checks import ContractViolation
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
SCHEMATHESIS_CHECKS = frozenset(
    {"not_a_server_error", "ignored_auth", "no_undeclared_fields", "response_schema_conformance"}
)


@dataclass(frozen=True)
class Finding:
    check: str
    where: str
    message: str


def schemathesis_findings(app: ASGIApp, *, max_examples: int, seed: int = 1) -> list[Finding]:
    """Every check schemathesis (with ours) saw fail, running its engine in-process."""
    config = schemathesis_config(OWNER, max_examples=max_examples, seed=seed)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    findings: dict[str, Finding] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.name not in findings:
                        message = str(node.failure_info.failure.title) if node.failure_info else ""
                        findings[node.name] = Finding(node.name, event.label or "", message)
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


def run_harness(
    mutant: str | None = None, *, max_examples: int = 15, until: str | None = None
) -> list[Finding]:
    """The harness against the clean simulator, or the named mutant of it.

    Its parts run cheapest first (the lifecycle walks, the idempotency check and the bulk reads
    over a socket, the callbacks, then schemathesis); with `until`, it stops after the first
    part whose findings name that check, which is all a meta-test asks: its mutant caught by
    its check; a check that only the callbacks or only schemathesis report has that part run
    first.
    """

    def make_app(settings: Settings) -> ASGIApp:
        return mutants.build(mutant, settings)

    def caught() -> bool:
        return until is not None and any(f.check == until for f in findings)

    # seeded: the tasks' plans, and so what the walks see, are the same on every run
    settings = Settings(
        timings=FAST, api_keys=frozenset({OWNER, STRANGER}), clock="virtual", seed=20261204
    )
    findings: list[Finding] = []

    def over_a_socket() -> None:
        with serve_in_thread(make_app(settings)) as base_url:
            # the machine is cheap (a few ms a step) and its bugs need longer walks to show
            findings.extend(lifecycle_findings(base_url, max_examples=4 * max_examples))
            if not caught():
                findings.extend(idempotency_findings(base_url))
            if not caught():
                findings.extend(bulk_findings(base_url))

    def callbacks() -> None:
        findings.extend(callback_findings(make_app))

    def in_process() -> None:
        offline = mutants.build(mutant, settings, transport=mutants.OFFLINE)
        findings.extend(schemathesis_findings(offline, max_examples=max_examples))

    parts = [over_a_socket, callbacks, in_process]
    # a check only one part reports: that part first (the walks cost seconds it need not wait)
    first = {
        **dict.fromkeys(CALLBACK_CHECKS, callbacks),
        **dict.fromkeys(SCHEMATHESIS_CHECKS, in_process),
    }
    if until in first:
        parts.remove(first[until])
        parts.insert(0, first[until])
    for part in parts:
        if caught():
            break
        part()
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
