"""Admission: who is calling, which scenario shapes the call, and whether the key's rate limit
lets it in. The first steps of every vendor operation, in the order `Simulator` runs them."""

from __future__ import annotations

import asyncio
import math
import random
import re
import sys
from dataclasses import replace

from ..domain.chaos import Chaos, ChaosStreams
from ..domain.clock import Clock
from ..domain.errors import (
    Forbidden,
    IdempotencyConflict,
    InsufficientQuota,
    InternalError,
    InvalidRequest,
    MockError,
    NotFound,
    RateLimited,
    RequestTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
)
from ..domain.gateway import RETRY_AFTER_503
from ..domain.profiles import KeyProfile
from ..domain.scenarios import CREATE_ONLY, Scenario, ScenarioError, parse_scenario, unservable
from ..settings import Settings
from ..spec import CREATE, Spec
from ..storage.base import Store
from .calls import Call

_MARKER = re.compile(r"\[mock:([^\]\s]+)\]")
_PREFER_CODE = re.compile(r"(?:^|[\s,;])code=(\d{3})(?:$|[\s,;])")
_ERROR_BY_STATUS: dict[int, type[MockError]] = {
    cls.status: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        InsufficientQuota,
        Forbidden,
        NotFound,
        IdempotencyConflict,
        RateLimited,
        InternalError,
        RequestTooLarge,
        UpstreamError,
        ServiceUnavailable,
    )
}


#: The longest wait a `Retry-After` names: a day, for a bucket that never refills (`rate = 0`).
MAX_RETRY_AFTER = 86_400


def retry_after(seconds: float) -> int:
    """A wait as `Retry-After` gives it: whole seconds, rounded up, at least 1, at most
    `MAX_RETRY_AFTER` (an endless wait, or not a number, is the most)."""
    if not seconds < MAX_RETRY_AFTER:
        return MAX_RETRY_AFTER
    return max(1, math.ceil(seconds - 1e-9))


class Admission:
    def __init__(
        self, settings: Settings, spec: Spec, store: Store, clock: Clock, rng: random.Random
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.store = store
        self.clock = clock
        self.rng = rng
        self.chaos = ChaosStreams()
        shape = settings.key_shape if settings.api_keys is None else None
        self._key_shape = re.compile(shape).fullmatch if shape is not None else None

    def profile(self, owner: str) -> KeyProfile:
        return self.settings.profiles.for_key(owner)

    def authenticate(self, authorization: str | None) -> str:
        """The API key of a `Bearer` authorization header, or Unauthorized."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or len(token.split()) != 1:  # empty, or with spaces inside
            raise Unauthorized()
        if self.settings.api_keys is not None and token not in self.settings.api_keys:
            raise Unauthorized()
        if self._key_shape is not None and self._key_shape(token) is None:
            raise Unauthorized()
        # one string for all of a key's tasks and journal entries, not a copy from each header
        return sys.intern(token)

    def scenario(self, name: str, source: str) -> Scenario:
        """The scenario `name` stands for; InvalidRequest naming `source` if none."""
        try:
            return parse_scenario(name, self.spec)
        except ScenarioError as exc:
            raise InvalidRequest(
                f"Invalid request parameters: {source}: {exc}", param=source
            ) from exc

    async def admitted(self, call: Call) -> str | None:
        """The steps before a vendor operation that reads: the caller's key (`call.owner`),
        once authenticated, past the scenario the call names or its key's default and past
        its rate limit; None when the scenario drops the connection."""
        owner = call.owner = self.authenticate(call.authorization)
        profile = self.profile(owner)
        scenario = await self.requested(call, owner, profile) or self.fallback(
            call.operation, profile
        )
        if scenario is not None and await self.apply(call, scenario):
            return None
        if profile.rate is not None:
            await self.admit(owner, profile)
        return owner

    async def requested(self, call: Call, owner: str, profile: KeyProfile) -> Scenario | None:
        """The scenario an admin fault or the call's headers name, most specific first."""
        fault = await self.store.take_fault(call.operation, owner)
        if fault is not None:
            return self.scenario(fault.scenario, "fault")
        if call.scenario_header:
            return self.scenario(call.scenario_header, "X-Mock-Scenario")
        prefer = call.prefer
        if prefer and (found := _PREFER_CODE.search(prefer)) and found.group(1) != "200":
            return self.scenario(f"http:{found.group(1)}", "Prefer")
        chaos = profile.chaos or self.settings.chaos
        return None if chaos is None else self._chaos(call, owner, chaos)

    def _chaos(self, call: Call, owner: str, chaos: Chaos) -> Scenario | None:
        """Seeded chaos, the key's or the server's: a scenario for this request, or None."""
        drawn = self.chaos.draw(chaos, owner)
        if drawn is None:
            return None
        name, rng = drawn
        scenario = self.scenario(name, "chaos")
        if scenario.kind == "task_failure" and call.operation != CREATE:
            return None  # a task failure has no meaning for a query
        call.chaos = True
        if scenario.kind == "latency":
            # its length from the key's stream too: the same run twice waits the same
            scenario = replace(scenario, latency=(delay := scenario.latency_seconds(rng), delay))
        return scenario

    def fallback(
        self, operation: str, profile: KeyProfile, prompt: str | None = None
    ) -> Scenario | None:
        """A prompt marker (with --prompt-markers), else the key's default scenario; a default
        task failure shapes the key's creates and leaves its queries alone."""
        if (
            prompt is not None
            and self.settings.prompt_markers
            and (found := _MARKER.search(prompt))
        ):
            return self.scenario(found.group(1), "prompt")
        default = profile.scenario
        if not default:
            return None
        scenario = self.scenario(default, "key profile")
        return None if scenario.kind in CREATE_ONLY and operation != CREATE else scenario

    async def apply(self, call: Call, scenario: Scenario) -> bool:
        """Do what a scenario does to the call before the operation runs: answer an error,
        wait, or ask for the connection to be dropped (True). What shapes a created task (a
        failure, a lost answer, its callback) is the create's business."""
        call.scenario = f"chaos:{scenario.name}" if call.chaos else scenario.name
        reason = unservable(scenario, call.operation, self.spec)
        if reason is not None:
            raise InvalidRequest(f"Invalid request parameters: {reason}", param="X-Mock-Scenario")
        if scenario.kind == "http_error":
            assert scenario.status is not None
            error = _ERROR_BY_STATUS[scenario.status]
            raise error(retry_after=RETRY_AFTER_503) if error is ServiceUnavailable else error()
        if scenario.kind == "latency":
            await asyncio.sleep(scenario.latency_seconds(self.rng))
        return scenario.kind == "drop"

    async def admit(self, owner: str, profile: KeyProfile | None = None) -> None:
        """Take a token from the key's bucket, or answer 429."""
        profile = profile if profile is not None else self.profile(owner)
        if profile.rate is None:
            return
        size = profile.bucket_size
        wait = await self.store.take_token(owner, profile.rate, size, self.clock.now())
        if wait > 0:
            raise RateLimited(retry_after=retry_after(wait))
