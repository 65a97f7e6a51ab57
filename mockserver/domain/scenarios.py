"""The catalogue of named scenarios: every documented way a call or a task can go wrong.

One catalogue serves the code (`parse_scenario`), `evolink-mock scenarios` and the docs site's
catalogue page.
HTTP errors come from the spec's documented responses (a scenario is named by the error `code`);
task failures from the vendor's task error codes; latency and a dropped connection are HTTP-level.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from ..spec import CREATE, DocumentedError, Spec
from .gateway import GATEWAY_ERRORS, gateway_statuses
from .tasks import Failure

ScenarioKind = Literal[
    "http_error", "task_failure", "latency", "drop", "drop_after_create", "callback"
]
#: Kinds that shape the task a create makes, and so apply to creates only.
CREATE_ONLY: frozenset[str] = frozenset({"task_failure", "drop_after_create", "callback"})
#: The longest `callback:delay:SECONDS`: a day of simulated time.
MAX_CALLBACK_DELAY = 86_400.0

#: Task failure codes (docs.evolink.ai/en/api-manual/task-management/error-codes), with the
#: message the vendor gives (a short title, a line break, then advice) and the progress at which
#: the task fails by default: request-caused failures happen before processing starts,
#: service-caused ones part-way through.
TASK_FAILURES: dict[str, tuple[str, int]] = {
    "content_policy_violation": (
        "Content policy violation.\nYour request was blocked by safety filters. Revise the "
        "prompt or images and try again.",
        0,
    ),
    "invalid_parameters": (
        "Invalid parameters.\nThe model rejected the request parameters. Check them against "
        "the model's documentation.",
        0,
    ),
    "image_processing_error": (
        "Image processing error.\nThe reference image could not be downloaded or read. Use a "
        "directly accessible jpg, jpeg, png or webp URL of at most 10 MB.",
        0,
    ),
    "image_dimension_mismatch": (
        "Image dimension mismatch.\nThe reference image's dimensions do not match the "
        "requested aspect ratio. Crop or resize it to match.",
        0,
    ),
    "request_cancelled": ("Request cancelled.\nThe task was cancelled.", 0),
    "generation_failed_no_content": (
        "Generation failed.\nThe model returned no content. Try again, or adjust the prompt.",
        60,
    ),
    "service_error": (
        "Service error.\nThe upstream video service failed. Try again later.",
        30,
    ),
    "generation_timeout": (
        "Generation timed out.\nThe video took too long to render. Try again later.",
        90,
    ),
    "resource_exhausted": (
        "Resource exhausted.\nThe upstream service is at capacity. Try again later.",
        10,
    ),
    "quota_exceeded": (
        "Quota exceeded.\nThe upstream quota is used up. Try again later.",
        0,
    ),
    "service_unavailable": (
        "Service unavailable.\nThe upstream video service is down. Try again later.",
        0,
    ),
    "resource_not_found": ("Resource not found.\nThe task ID is invalid or expired.", 50),
    "unknown_error": ("Unknown error.\nAn unexpected error occurred. Try again later.", 40),
}


class ScenarioError(ValueError):
    """A scenario name that means nothing, or that does not apply where it was used."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: ScenarioKind
    status: int | None = None
    failure: Failure | None = None
    latency: tuple[float, float] | None = field(default=None)

    def latency_seconds(self, rng: random.Random) -> float:
        assert self.latency is not None
        low, high = self.latency
        return low if low == high else rng.uniform(low, high)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str
    effect: str
    trigger: str


def _error_statuses(spec: Spec) -> dict[str, int]:
    """Every documented error code of every operation, and the gateway's, to its HTTP status."""
    codes = {e.code: e.status for errors in spec.errors.values() for e in errors.values()}
    return {**codes, **{e.code: e.status for e in GATEWAY_ERRORS.values()}}


def statuses(spec: Spec, operation: str) -> list[int]:
    """The error statuses an operation can answer: its documented ones and the gateway's."""
    return sorted(set(spec.errors.get(operation, {})) | gateway_statuses(operation))


def unservable(scenario: Scenario, operation: str, spec: Spec) -> str | None:
    """Why `scenario` cannot shape a call of `operation`, or None if it can."""
    if scenario.kind in CREATE_ONLY and operation != CREATE:
        return f"scenario {scenario.name} shapes a created task: it applies to creates only"
    if scenario.kind == "http_error" and scenario.status not in statuses(spec, operation):
        listed = ", ".join(str(s) for s in statuses(spec, operation))
        return (
            f"scenario {scenario.name} is not an answer {operation} can give (its errors: {listed})"
        )
    return None


def parse_scenario(name: str, spec: Spec) -> Scenario:
    """The scenario a name stands for; ScenarioError, saying what is known, for anything else."""
    name = name.strip()
    if name == "drop":
        return Scenario(name, "drop")
    if name == "drop-after-create":
        return Scenario(name, "drop_after_create")
    if name.startswith("callback:"):
        return _callback_scenario(name)
    if name.startswith("fail:"):
        code, _, at = name[5:].partition("@")
        if code not in TASK_FAILURES:
            raise ScenarioError(
                f"unknown task failure code {code!r}; known: {', '.join(TASK_FAILURES)}"
            )
        message, progress = TASK_FAILURES[code]
        if at:
            if not at.isdigit() or not 0 <= int(at) <= 99:
                raise ScenarioError(f"{name!r}: the progress after '@' must be 0 to 99")
            progress = int(at)
        return Scenario(name, "task_failure", failure=Failure(code, message, progress))
    if name.startswith("latency:"):
        low, _, high = name[8:].partition("-")
        try:
            bounds = (float(low) / 1000, float(high or low) / 1000)
        except ValueError:
            raise ScenarioError(
                f"{name!r}: latency is 'latency:MS' or 'latency:MIN-MAX' in ms"
            ) from None
        if not 0 <= bounds[0] <= bounds[1] <= 60:
            raise ScenarioError(f"{name!r}: latency must be 0 to 60000 ms, low before high")
        return Scenario(name, "latency", latency=bounds)
    if name.startswith("http:"):
        status = name[5:]
        known = sorted({s for op in spec.errors for s in statuses(spec, op)})
        if not status.isdigit() or int(status) not in known:
            raise ScenarioError(
                f"{name!r}: expected http:STATUS with a status the API answers: "
                f"{', '.join(str(s) for s in known)}"
            )
        return Scenario(name, "http_error", status=int(status))
    status_of = _error_statuses(spec)
    if name in status_of:
        return Scenario(name, "http_error", status=status_of[name])
    raise ScenarioError(
        f"unknown scenario {name!r}; "
        "run `evolink-mock scenarios` or GET /_mock/scenarios for the list"
    )


def _callback_scenario(name: str) -> Scenario:
    what = name.removeprefix("callback:")
    if what == "duplicate":
        return Scenario(name, "callback")
    if what.startswith("delay:"):
        try:
            seconds = float(what.removeprefix("delay:"))
        except ValueError:
            seconds = -1.0
        if 0 < seconds <= MAX_CALLBACK_DELAY:
            return Scenario(name, "callback")
        raise ScenarioError(
            f"{name!r}: expected callback:delay:SECONDS with 0 < SECONDS <= {MAX_CALLBACK_DELAY:g}"
        )
    raise ScenarioError(f"{name!r}: expected callback:duplicate or callback:delay:SECONDS")


def callback_delay(callback_scenario: str | None) -> float:
    """Simulated seconds a task's first callback attempt goes late (`callback:delay:S`)."""
    if callback_scenario is None or not callback_scenario.startswith("delay:"):
        return 0.0
    return float(callback_scenario.removeprefix("delay:"))


def _gateways(error: DocumentedError) -> str:
    return (
        f"the gateway's {error.status} {error.type} (documented on the vendor's sibling pages, "
        "not the create page)"
    )


def catalogue(spec: Spec) -> list[CatalogueEntry]:
    """Every scenario, for people: name, what it does, and a header that triggers it."""
    by_code: dict[str, list[str]] = {}
    for operation_id, errors in spec.errors.items():
        for error in errors.values():
            by_code.setdefault(error.code, []).append(f"{operation_id} {error.status}")
    gateway = {error.code: error for error in GATEWAY_ERRORS.values()}
    entries = []
    for code, where in sorted(by_code.items(), key=lambda item: (item[1][0].split()[1], item[0])):
        effect = f"answers the documented error of {', '.join(where)}"
        if code in gateway:  # a page documents it, the gateway answers it everywhere else
            effect += f"; elsewhere {_gateways(gateway.pop(code))}"
        entries.append(CatalogueEntry(code, effect, code))
    entries += [
        CatalogueEntry(error.code, f"answers {_gateways(error)}", error.code)
        for error in gateway.values()
    ]
    for code, (message, progress) in TASK_FAILURES.items():
        stage = "before processing" if progress == 0 else f"at {progress}% of processing"
        entries.append(
            CatalogueEntry(
                f"fail:{code}",
                f"the created task fails {stage}, `@N` sets the progress: "
                f"{message.splitlines()[0]}",
                f"fail:{code}@50" if progress else f"fail:{code}",
            )
        )
    entries += [
        CatalogueEntry(
            "latency:MS",
            "answers after MS real milliseconds, or a random MIN-MAX",
            "latency:200-800",
        ),
        CatalogueEntry("drop", "drops the connection before the response completes", "drop"),
        CatalogueEntry(
            "drop-after-create",
            "creates the task (reserved, running) and cuts the connection before any byte of "
            "the answer: a client that retries blindly pays twice",
            "drop-after-create",
        ),
        CatalogueEntry(
            "callback:duplicate",
            "the created task's delivered callback is sent a second time, same `webhook-id`",
            "callback:duplicate",
        ),
        CatalogueEntry(
            "callback:delay:SECONDS",
            "the created task's first callback attempt goes SECONDS (simulated) late",
            "callback:delay:30",
        ),
        CatalogueEntry(
            "http:STATUS", "answers the operation's documented error of that status", "http:500"
        ),
    ]
    return entries


TRIGGERS = (
    "Triggers, most specific first: an admin fault (POST /_mock/faults); the X-Mock-Scenario "
    "header (or Prism's `Prefer: code=STATUS`); a `[mock:NAME]` marker in the prompt, with "
    "--prompt-markers; the API key's default scenario in the --config file."
)


def markdown_table(spec: Spec) -> str:
    rows = ["| scenario | effect | trigger |", "|---|---|---|"]
    rows += [
        f"| `{e.name}` | {e.effect} | `X-Mock-Scenario: {e.trigger}` |" for e in catalogue(spec)
    ]
    return "\n".join(rows)
