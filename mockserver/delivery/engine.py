"""Callback delivery: when a task with a `callback_url` ends, POST its query body there.

The vendor's rules: a 10 s timeout per attempt, any 2xx is success, anything else (another
status, a redirect, which is never followed, a timeout, a refused or dropped connection, a TLS
failure, a destination the policy refuses) fails the attempt; the retries come 1 s, 2 s and 4 s
after a failed attempt ends, so at most 4 attempts.

How it runs: an attempt is an asyncio task (at most MAX_CONCURRENCY at once, over one shared
httpx client); a retry is an event in the simulator's scheduler, so nothing sleeps per task and a
dead receiver holds up nobody else's delivery. Each attempt re-checks the destination (DNS can
change since submit) and connects to the address it checked, sending the original Host and SNI.

Time: every timestamp in the log is simulated time. On the real clock an attempt lasts what it
lasts (the 10 s are simulated seconds, so `--speed 10` waits 1 real second). On the virtual
clock time moves only when told, so an attempt's simulated duration is defined, not measured: 0
when the receiver answered (or the connection failed), ATTEMPT_TIMEOUT when it did not answer
within `Settings.callback_timeout` real seconds. Retries of a dead receiver then land exactly at
t, t+11, t+23, t+37, and tests may wait a fraction of a second for a "10 s" timeout.
`advance()` steps the clock from event to event and lets the attempts sent at each step settle
before going on, so retries that fall due within the same advance run in it, at their time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.clock import Clock, RealClock, VirtualClock
from ..domain.deliveries import Attempt, Delivery, Outcome
from ..domain.scenarios import callback_delay
from ..domain.scheduler import Scheduler
from ..domain.tasks import Task
from ..domain.types import JSONObject
from ..settings import Settings
from ..storage.base import Store, StoreUnavailable
from .images import client_context
from .signing import decode_secret, signature_headers
from .ssrf import (
    CallbackPolicy,
    PolicyViolation,
    Resolver,
    pinned_request,
    system_resolver,
)

if TYPE_CHECKING:  # imported where it is used, so that `serve` starts without it
    import httpx

log = logging.getLogger("mockserver.callbacks")

#: The vendor's timeout per attempt, in simulated seconds.
ATTEMPT_TIMEOUT = 10.0
#: Seconds from the end of a failed attempt to the next one (the vendor's 1/2/4 s).
RETRY_DELAYS = (1.0, 2.0, 4.0)
#: Attempts in flight at once; more wait their turn (their `sent_at` is when they got one).
MAX_CONCURRENCY = 64
USER_AGENT = "evolink-mock-callbacks/1"


@dataclass(frozen=True, slots=True)
class _Result:
    status_code: int | None = None
    error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def outcome(self) -> str:
        """The metric's label: success (2xx), http_error, timeout, or error (refused by the
        address policy, or no connection)."""
        if self.ok:
            return "success"
        if self.status_code is not None:
            return "http_error"
        return "timeout" if self.timed_out else "error"


def encode_body(body: JSONObject) -> bytes:
    """Byte for byte what Starlette's JSONResponse sends for the same task query."""
    return json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _describe(exc: BaseException) -> str:
    """A readable reason for a failed exchange: TLS, connection, or protocol."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"TLS failure: {cause}"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection dropped: {text}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection reset: {text}"
    return f"{type(exc).__name__}: {text}"


class CallbackEngine:
    """Delivers callbacks on a simulator's clock and scheduler; the store keeps their log.

    `retry_delays` are the seconds after a failed attempt ends that each retry comes (the
    vendor's 1, 2 and 4); `transport` sends through an httpx transport instead of the network.
    """

    def __init__(
        self,
        clock: Clock,
        scheduler: Scheduler,
        settings: Settings,
        store: Store,
        *,
        resolver: Resolver | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.settings = settings
        self.store = store
        self.policy = CallbackPolicy.from_entries(
            settings.callback_allow, allow_http=settings.callback_allow_http
        )
        self.resolver: Resolver = resolver or system_resolver
        self.transport = transport
        self.retry_delays = tuple(retry_delays)
        #: draws webhook ids when seeded; OS randomness otherwise
        self._rng = rng if settings.seed is not None else None
        self._key = decode_secret(settings.callback_secret) if settings.callback_secret else None
        self._inflight: set[asyncio.Task[None]] = set()
        self._unstarted: list[tuple[Delivery, Attempt]] = []
        self._generation = 0  # bumped by reset: what was in flight before then is dropped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        #: outcome of each attempt so far (success, http_error, timeout, error), for metrics
        self.attempt_outcomes: Counter[str] = Counter()
        #: deliveries taken over from processes that died (a shared store), for metrics
        self.taken_over = 0
        #: called after an attempt's outcome is written down (long-polls wait on it)
        self.on_attempt: Callable[[], None] | None = None

    def body_for(self, task: Task, at: float) -> bytes:
        """What an attempt sends: the task's GET body at the moment it is sent."""
        return encode_body(task.to_json(at))

    # -- what starts a delivery -----------------------------------------------------------------

    def task_ended(self, task: Task, ended_at: float) -> None:
        """The simulator's end listener: a task with a callback URL gets its delivery (its
        first attempt late under `callback:delay:SECONDS`)."""
        if task.request.callback_url is not None:
            self._start(task, ended_at, "end", delay=callback_delay(task.callback_scenario))

    def replay(self, task: Task) -> Delivery:
        """Send a terminal task's callback again: a new delivery, with its own retries."""
        return self._start(task, self.clock.now(), "replay")

    def restore(self, delivery: Delivery) -> None:
        """Take back a delivery from before a restart (`--db`). A pending one carries on: its
        next attempt at the time the last failed one set, or, if an attempt was in flight when
        the server stopped, that attempt again (same number, same `webhook-id`): at least once."""
        if delivery.outcome is not Outcome.PENDING:
            return
        last = delivery.attempts[-1] if delivery.attempts else None
        if last is None:  # pragma: no cover - a delivery is saved with its first attempt
            due = delivery.task.plan.ended
        elif not last.answered:
            delivery.attempts.pop()  # unanswered: it is sent again
            due = last.scheduled_at
        elif last.next_retry_at is not None:
            due = last.next_retry_at
        else:  # pragma: no cover - a failed attempt that is not the last sets its retry
            return
        generation = self._generation
        self.scheduler.call_at(due, lambda when: self._launch(delivery, when, generation))

    def _start(self, task: Task, when: float, trigger: str, delay: float = 0.0) -> Delivery:
        assert task.request.callback_url is not None
        token = secrets.token_hex(12) if self._rng is None else self._rng.randbytes(12).hex()
        delivery = Delivery(task, task.request.callback_url, f"msg_{token}", trigger)
        generation = self._generation
        if delay > 0:
            self.scheduler.call_at(when + delay, lambda at: self._launch(delivery, at, generation))
        else:
            self._launch(delivery, when, generation)
        return delivery

    def _launch(self, delivery: Delivery, scheduled_at: float, generation: int) -> None:
        """Begin the next attempt (from a scheduler event, or the delivery's start)."""
        if generation != self._generation:
            return
        attempt = Attempt(len(delivery.attempts) + 1, scheduled_at)
        delivery.attempts.append(attempt)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a synchronous advance: the next drain() sends it
            self._unstarted.append((delivery, attempt))
            return
        self._spawn(delivery, attempt)

    def _spawn(self, delivery: Delivery, attempt: Attempt) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(delivery, attempt, self._generation),
            name=f"callback-{delivery.task.id}-{attempt.attempt}",
        )
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # -- one attempt ----------------------------------------------------------------------------

    async def _run(self, delivery: Delivery, attempt: Attempt, generation: int) -> None:
        if generation != self._generation:
            return
        client, slots = self._client_and_slots()
        async with slots:  # at most MAX_CONCURRENCY attempts talk to the store and the network
            if generation != self._generation:
                return
            try:
                if not await self._claim_and_write_down(delivery, attempt):
                    return
            except StoreUnavailable as exc:  # the shared store is down: try again in a second
                log.warning("callback %s: %s; the attempt waits", delivery.task.id, exc)
                delivery.attempts.remove(attempt)
                self.scheduler.call_at(
                    self.clock.now() + 1.0, lambda when: self._launch(delivery, when, generation)
                )
                return
            sent = self.clock.now()
            attempt.sent_at = sent
            body = self.body_for(delivery.task, sent)
            headers = {"content-type": "application/json", "user-agent": USER_AGENT}
            if self._key is not None:
                headers |= signature_headers(self._key, delivery.webhook_id, int(sent), body)
            try:
                async with asyncio.timeout(self._real_timeout()):
                    result = await self._exchange(client, delivery.url, body, headers)
            except TimeoutError:
                result = _Result(error=f"timed out after {ATTEMPT_TIMEOUT:g} s", timed_out=True)
        if generation != self._generation:
            return
        again = self._settle(delivery, attempt, sent, result)
        try:
            ours = await self.store.save_delivery(delivery)
        except StoreUnavailable as exc:  # Redis kept the attempt as sent: resent if we die
            log.warning("callback %s: %s; the outcome was not written down", delivery.task.id, exc)
            ours = True
        if again is not None and ours:
            self.scheduler.call_at(again, lambda when: self._launch(delivery, when, generation))
        if self.on_attempt is not None:
            self.on_attempt()

    async def _claim_and_write_down(self, delivery: Delivery, attempt: Attempt) -> bool:
        """Write the delivery down before anything is sent. False, and nothing is sent, if it
        is another process's (a shared store): that process saved the task's end delivery
        first, or took this one over when this process's lease lapsed."""
        if await self.store.save_delivery(delivery):
            return True
        delivery.attempts.remove(attempt)
        return False

    def take_over(self, deliveries: Sequence[Delivery]) -> None:
        """Carry on deliveries a process that died had under way (`Store.take_over`): each
        from where its log stops, as after a restart."""
        for delivery in deliveries:
            self.taken_over += 1
            log.warning(
                "callback %s: taken over from a process whose lease lapsed (webhook-id %s)",
                delivery.task.id,
                delivery.webhook_id,
            )
            self.restore(delivery)

    async def _exchange(
        self, client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
    ) -> _Result:
        import httpx

        try:
            request = await self._request(client, url, body, headers)
        except PolicyViolation as exc:
            return _Result(error=f"refused by policy: {exc.reason}")
        try:
            response = await client.send(request, stream=True)
            await response.aclose()  # the receiver's body is of no interest
        except httpx.HTTPError as exc:
            return _Result(error=_describe(exc))
        except OSError as exc:  # anything the transport did not map
            return _Result(error=_describe(exc))
        return _Result(status_code=response.status_code)

    async def _request(
        self, client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """The POST to send, after the policy's checks (`pinned_request`)."""
        return await pinned_request(
            client, "POST", url, self.policy, self.resolver, content=body, headers=headers
        )

    def _real_timeout(self) -> float:
        """Real seconds to wait for an answer (see the module's note on time)."""
        if isinstance(self.clock, RealClock):
            return min(self.settings.callback_timeout, ATTEMPT_TIMEOUT / self.clock.speed)
        return self.settings.callback_timeout

    def _settle(
        self, delivery: Delivery, attempt: Attempt, sent: float, result: _Result
    ) -> float | None:
        """Write the attempt's outcome into the delivery; returns when the next attempt is due
        (None: no more)."""
        if isinstance(self.clock, VirtualClock):
            duration = ATTEMPT_TIMEOUT if result.timed_out else 0.0
            ended = sent + duration
        else:
            ended = max(sent, self.clock.now())
            duration = round(ended - sent, 6)
        attempt.status_code = result.status_code
        attempt.error = result.error
        attempt.duration = duration
        answer = result.error or f"HTTP {result.status_code}"
        self.attempt_outcomes[result.outcome] += 1
        if result.ok:
            delivery.outcome = Outcome.DELIVERED
            log.debug("callback %s attempt %d: %s", delivery.task.id, attempt.attempt, answer)
            if delivery.task.callback_scenario == "duplicate" and delivery.trigger == "end":
                delivered = [a for a in delivery.attempts if 200 <= (a.status_code or 0) < 300]
                if len(delivered) == 1:  # `callback:duplicate`: once more, same webhook-id
                    return ended
        elif attempt.attempt > len(self.retry_delays):
            delivery.outcome = Outcome.EXHAUSTED
            log.warning(
                "callback %s to %s: %d attempts failed, the last with %s",
                delivery.task.id,
                delivery.url,
                attempt.attempt,
                answer,
            )
        else:
            log.info("callback %s attempt %d: %s", delivery.task.id, attempt.attempt, answer)
            retry_at = ended + self.retry_delays[attempt.attempt - 1]
            attempt.next_retry_at = retry_at
            return retry_at
        return None

    def _client_and_slots(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """One client and one semaphore per event loop, made on first use."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._slots is None or self._loop is not loop:
            import httpx

            self._loop = loop
            self._client = httpx.AsyncClient(
                transport=self.transport,
                verify=client_context(self.settings.callback_ca_file),
                follow_redirects=False,
                timeout=None,  # the attempt's own timeout covers resolution, connect and answer
                # one connection per attempt: nothing is left open between deliveries, and
                # each attempt connects to the address it has just checked
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                trust_env=False,  # a proxy from the environment would bypass the address checks
            )
            self._slots = asyncio.Semaphore(MAX_CONCURRENCY)
        return self._client, self._slots

    # -- settling, for tests and the virtual clock ----------------------------------------------

    async def drain(self) -> None:
        """Wait until no attempt is in flight, sending first any that fell due while no event
        loop was running (a synchronous `Simulator.advance`)."""
        while self._unstarted or self._inflight:
            unstarted, self._unstarted = self._unstarted, []
            for delivery, attempt in unstarted:
                self._spawn(delivery, attempt)
            if self._inflight:
                await asyncio.wait(set(self._inflight))

    async def advance(self, seconds: float) -> float:
        """Virtual clock: move forward `seconds`, stopping at each due event to run it and let
        the attempts it sent settle, so retries due within the window run at their time."""
        assert isinstance(self.clock, VirtualClock)
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        target = self.clock.now() + seconds
        await self.drain()
        while (when := self.scheduler.next_due()) is not None and when <= target:
            self.scheduler.run_due(until=when)
            await self.drain()
        self.clock.set(target)
        return target

    def reset(self) -> None:
        """Drop every delivery under way: attempts in flight are cancelled, their retries
        dropped (the store forgets the log)."""
        self._generation += 1
        for task in self._inflight:
            task.cancel()
        self._unstarted.clear()

    async def aclose(self) -> None:
        """Cancel what is in flight and close the HTTP client (the app's shutdown); the log
        stays readable."""
        for task in self._inflight:
            task.cancel()
        self._unstarted.clear()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a loop
            loop = None
        if self._inflight and self._loop is loop:
            await asyncio.wait(set(self._inflight))
        if self._client is not None and self._loop is loop:
            await self._client.aclose()
        self._client = self._slots = self._loop = None
