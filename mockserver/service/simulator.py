"""The simulator: one method per thing a caller can ask of it, whatever the transport.

Each vendor operation runs its steps here, in the vendor's order (authentication, the scenario,
the rate limit, the body, moderation and billing, the task); each admin operation is one method.
The HTTP layer (`mockserver.web`) parses a request, calls one method and renders the result.
State lives in a `Store`; time in a `Clock`; what happens later (a task's end, a callback retry)
in the `Scheduler`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from ..delivery.engine import CallbackEngine
from ..delivery.images import ImageChecker
from ..delivery.ssrf import Resolver
from ..domain import idempotency
from ..domain.clock import Clock, RealClock, VirtualClock
from ..domain.deliveries import Delivery
from ..domain.errors import Forbidden, InsufficientQuota, InvalidRequest, NotFound, RateLimited
from ..domain.faults import Fault
from ..domain.idempotency import Claim, checked_key
from ..domain.journal import Entry, EntryFilter, RawHeaders, redact
from ..domain.limits import AccountView
from ..domain.models import check_timings
from ..domain.moderation import Moderator
from ..domain.profiles import KeyProfile
from ..domain.scenarios import CREATE_ONLY, Scenario, unservable
from ..domain.scheduler import Scheduler, Timer
from ..domain.tasks import Failure, Task, TaskStatus, VideoRequest
from ..settings import Settings
from ..spec import CREATE, Spec
from ..storage import open_store
from ..storage.base import Exists, NewTask, Refusal, Refused, Store
from .admission import Admission, retry_after
from .calls import Answer, BodyReader, Call
from .clocks import continued, make_clock
from .files import FileService
from .ids import TASK_ID_PREFIX, RequestIds, TaskIds
from .metrics import MetricsSnapshot, RequestMetrics
from .replay import REPLAYED, Replays
from .requests import RequestParser
from .waiting import Changes

#: Called once when a task reaches its terminal state, at the simulated time it ended.
EndListener = Callable[[Task, float], None]
#: Builds the callback engine (a seam: `CallbackEngine` with other retry delays, a subclass).
EngineFactory = Callable[..., CallbackEngine]


class Simulator:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        spec: Spec | None = None,
        resolver: Resolver | None = None,
        callback_engine: EngineFactory = CallbackEngine,
    ) -> None:
        """`resolver(host, port)` resolves callback hosts (default: the system's, bounded);
        `callback_engine(clock, scheduler, settings, store, resolver=...)` builds the engine
        that delivers callbacks.

        Building one does no I/O: the store (by default the one the settings ask for,
        `settings.db_path`: SQLite, `settings.store_url`: Redis) is opened by `open`, which the
        app's lifespan calls; a simulator on a memory store works unopened."""
        self.settings = settings or Settings()
        models = self.settings.models
        #: the served models by name, prices of `settings.pricing` applied (a create's lookup)
        self.models = (
            models if self.settings.pricing is None else models.priced(self.settings.pricing)
        )
        self.spec = spec or models.spec
        timings = self.settings.timings
        check_timings(self.models, timings.per_video_second, timings.name)
        if store is not None and self.settings.db_path is not None:
            raise ValueError("pass a store or settings.db_path, not both")
        self.store: Store = store if store is not None else open_store(self.settings)
        self._resolver, self._engine = resolver, callback_engine
        #: whether `open` ran
        self.opened = False
        #: every random choice of the simulator; `settings.seed` makes a run repeat exactly
        self.rng = random.Random(self.settings.seed)
        self.moderator = Moderator(self.settings.profiles.moderation)
        seeded = self.rng if self.settings.seed is not None else None
        self._ids = TaskIds(seeded)
        #: draws each vendor answer's `X-Request-Id`
        self.request_ids = RequestIds(seeded)
        self.request_metrics = RequestMetrics() if self.settings.metrics else None
        #: the journal or the callback log changed: long-polls check again
        self.changes = Changes()
        #: called at each task's end besides the callback engine (`on_task_end`)
        self._end_listeners: list[EndListener] = []
        #: whether every task needs an end event (an `on_task_end` listener), or only those with
        #: a callback URL (billing settles when asked, and needs none)
        self._every_end = False
        self._end_timers: dict[str, Timer] = {}
        #: the files API: uploads, the quota, the files' bytes (`service.files`)
        self.files = FileService(self)
        self._run_on(clock or make_clock(self.settings))

    def _run_on(self, clock: Clock) -> None:
        """Build what runs on the clock: the scheduler, the callbacks, admission and parsing."""
        self.clock = clock
        #: another process may move this virtual clock (a shared store): read it on each call
        self._shares_clock = self.store.shared and isinstance(clock, VirtualClock)
        self.scheduler = Scheduler(clock)
        self.callbacks = self._engine(
            clock, self.scheduler, self.settings, self.store, resolver=self._resolver, rng=self.rng
        )
        self.callbacks.on_attempt = self.changes.notify
        self.admission = Admission(self.settings, self.spec, self.store, clock, self.rng)
        self.parser = RequestParser(
            self.spec, self.callbacks.policy, self.callbacks.resolver, self.models
        )
        #: looks at reference images (`--fetch-images`); None leaves them alone
        self.images = (
            ImageChecker(
                self.callbacks.policy,
                self.callbacks.resolver,
                ca_file=self.settings.callback_ca_file,
                transport=self.callbacks.transport,
                stored=self.files,  # an uploaded file's URL is read from the store
            )
            if self.settings.fetch_images
            else None
        )
        self.replays = Replays(self.settings.replay, self.parser)

    async def open(self) -> None:
        """Open the store and carry on from what it kept: tasks, balances, deliveries, and its
        clock, which wins over `settings` (and over a `clock` passed in); then write the clock
        down (a real clock's anchor, from now). Once; before serving, and before anything is
        scheduled on this simulator."""
        if self.opened:
            return
        self.opened = True
        profiles = self.settings.profiles
        restored = await self.store.open(lambda key: profiles.for_key(key).credits)
        if restored.clock is not None:
            where = (
                f"--store {self.settings.store_url}"
                if self.settings.store_url is not None
                else f"--db {self.settings.db_path}"
                if self.settings.db_path is not None
                else "the store"
            )
            self._run_on(continued(restored.clock, self.settings, where))
        await self.store.save_clock(self.clock)
        now = self.now()
        for task, end_handled in restored.tasks:
            # an end still to come, or one whose callback never started (it ended while the
            # server was down, or just before it stopped): its event runs
            if task.plan.ended > now or (task.request.callback_url and not end_handled):
                self._schedule_end(task)
        for delivery in restored.pending:
            self.callbacks.restore(delivery)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run what fell due while the server was down (ends, callbacks and their retries),
        now; the app's lifespan calls it. On the real clock this starts the scheduler, which
        would otherwise wait for the first event scheduled inside the event loop."""
        if isinstance(self.clock, VirtualClock):
            self.scheduler.run_due()
        else:
            self.scheduler.start()

    def close(self) -> None:
        """Release the store (a database is checkpointed and closed); idempotent."""
        self.store.close()

    async def aclose(self) -> None:
        """The app's shutdown: stop the scheduler and the callbacks in flight (a pending
        delivery resumes after a restart on `--db`), then release the store."""
        await self.scheduler.aclose()
        await self.callbacks.aclose()
        self.close()

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def clock_json(self) -> dict[str, Any]:
        return {
            "kind": self.clock.kind,
            "now": self.now(),
            "speed": self.clock.speed if isinstance(self.clock, RealClock) else None,
        }

    async def advance(self, seconds: float) -> float:
        """Virtual clock only: move time forward, running what falls due on the way and
        letting the callback attempts it sends settle at their time (retries due within the
        window run in it too). Returns the new time."""
        if not isinstance(self.clock, VirtualClock):
            raise InvalidRequest(
                "The clock is real: start the server with --clock virtual to advance it",
                param="seconds",
            )
        await self.catch_up()
        if self._shares_clock and 0 < seconds < float("inf"):
            # the new time first: the other processes follow it while this one runs through
            await self.store.save_clock(VirtualClock(self.clock.now() + seconds))
        now = await self.callbacks.advance(seconds)
        await self.store.save_clock(self.clock)
        return now

    async def catch_up(self) -> None:
        """On a store other processes share, move this virtual clock to where another process
        moved it (running what falls due on the way), so that all read one time."""
        if self._shares_clock:
            await self._catch_up()

    async def _catch_up(self) -> None:
        """`catch_up`, for the vendor's operations (create, query, credits): called only on a
        shared store, so that on a store of its own they await no coroutine for it."""
        shared = await self.store.shared_time()
        if shared is not None and shared > self.clock.now():
            await self.callbacks.advance(shared - self.clock.now())

    async def take_over(self) -> int:
        """A shared store: renew this process's lease, and carry on what processes whose lease
        lapsed left: the ends of their tasks, their callback deliveries (the app runs it every
        second; it never waits for a callback). Returns how many."""
        taken = await self.store.take_over()
        if not (taken.deliveries or taken.ends):
            return 0
        for task in taken.ends:
            self._schedule_end(task)
        self.callbacks.take_over(taken.deliveries)
        if isinstance(self.clock, VirtualClock):
            self.scheduler.run_due()  # what is due now: ends, the attempts they had in flight
        return len(taken.deliveries) + len(taken.ends)

    async def settle(self) -> None:
        """Virtual clock: run what is due now and wait for the callbacks it sends. The real
        clock's scheduler does that by itself."""
        if isinstance(self.clock, VirtualClock):
            await self.callbacks.advance(0)

    # -- the vendor's operations -----------------------------------------------------------------

    async def create(self, call: Call, read_body: BodyReader) -> Answer:
        """`POST /v1/videos/generations`: authenticate, apply a requested scenario, take a
        token, read and check the body, apply a fallback scenario, then make the task (model
        access, concurrency, credits, moderation)."""
        if self._shares_clock:
            await self._catch_up()
        owner = call.owner = self.admission.authenticate(call.authorization)
        profile = self.admission.profile(owner)
        scenario = await self.admission.requested(call, owner, profile)
        if scenario is not None and await self.admission.apply(call, scenario):
            return Answer(None, self.now(), dropped=True)
        if profile.rate is not None:
            await self.admission.admit(owner, profile)
        key = call.idempotency_key
        if key is not None:
            checked_key(key)
        if self.replays.due:
            await self._bring_back_recorded()
        body = await read_body()
        request = self.parser.parse(body)
        if scenario is None:
            scenario = self.admission.fallback(CREATE, profile, request.prompt)
            if scenario is not None and await self.admission.apply(call, scenario):
                return Answer(None, self.now(), dropped=True)
        claim = None if key is None else idempotency.claim(key, body, self.now())
        task = await self._new_task(call, owner, profile, request, scenario, claim)
        lost = scenario is not None and scenario.kind == "drop_after_create"
        # a replay answers what the first create did: the task as it was made
        return Answer(task, task.plan.created if call.replayed else self.clock.now(), dropped=lost)

    async def query(self, call: Call, task_id: str) -> Answer:
        """`GET /v1/tasks/{task_id}`: authenticate, apply a scenario, take a token, then read
        the task, which must exist and belong to the caller."""
        if self._shares_clock:
            await self._catch_up()
        owner = await self.admission.admitted(call)
        if owner is None:
            return Answer(None, self.now(), dropped=True)
        if not task_id.startswith(TASK_ID_PREFIX):
            raise InvalidRequest(param="task_id")
        now = self.clock.now()
        task = await self._kept(task_id, now)
        if task is None:
            raise NotFound()
        if not self._readable_by(task, owner, call.base_url):
            raise Forbidden()
        return Answer(task, now)

    async def task_for(self, owner: str, task_id: str, now: float, base_url: str) -> Task | None:
        """The task as its query would answer `owner` at `now`, or None where the query would
        refuse it (no such task, its links expired, another key's): for reads of many tasks,
        which leave such ids out."""
        task = await self._kept(task_id, now)
        return task if task is not None and self._readable_by(task, owner, base_url) else None

    async def _kept(self, task_id: str, now: float) -> Task | None:
        """The task of this id, unless it is gone: 24 h after it ended."""
        if self.replays.due:
            await self._bring_back_recorded()
        task = await self.store.get_task(task_id)
        return None if task is None or now >= task.result_expires() else task

    @staticmethod
    def _readable_by(task: Task, owner: str, base_url: str) -> bool:
        """Whether `owner` may read the task: its own, or a recorded one (`serve --replay`),
        whose result links then point where it is first read."""
        if task.owner == owner:
            return True
        if task.owner != REPLAYED:
            return False
        if not task.base_url:
            task.base_url = base_url
        return True

    async def credits(self, call: Call) -> AccountView | None:
        """`GET /v1/credits`: authenticate, apply a scenario, take a token, then the caller's
        balance, settled now (None: the scenario dropped the connection)."""
        if self._shares_clock:
            await self._catch_up()
        owner = await self.admission.admitted(call)
        if owner is None:
            return None
        for _, view in await self.accounts(owner):
            return view
        credits = self.admission.profile(owner).credits  # no task yet: the configured credits
        return AccountView(credits, 0.0, 0.0, credits, 0)

    async def submit(
        self, body: Mapping[str, Any], *, api_key: str, base_url: str = "http://127.0.0.1:8000"
    ) -> Task:
        """The create operation without HTTP, for code in the same process: the new task, or
        the `MockError` a create would answer (ConnectionAbortedError for a dropped call)."""

        async def read_body() -> object:
            return dict(body)

        answer = await self.create(Call(CREATE, f"Bearer {api_key}", base_url=base_url), read_body)
        if answer.task is None:
            raise ConnectionAbortedError("the call's scenario dropped the connection")
        if answer.dropped:
            raise ConnectionAbortedError(
                f"the call's scenario lost the answer; task {answer.task.id} was created"
            )
        return answer.task

    async def _new_task(
        self,
        call: Call,
        owner: str,
        profile: KeyProfile,
        request: VideoRequest,
        scenario: Scenario | None,
        claim: Claim | None,
    ) -> Task:
        """The task the create makes, kept with its price reserved; with an idempotency key
        bound already, the task it is bound to (`call.replayed`), or IdempotencyConflict when
        it was bound by another request."""
        now = self.clock.now()
        if profile.models is not None and request.model not in profile.models:
            raise Forbidden(f"Token does not have access to model: {request.model}")
        model = self.models.profiles[request.model]  # the parser let only a served one in
        failure = scenario.failure if scenario is not None else None
        if failure is None and self.images is not None:
            # fails the task as it leaves pending
            failure = await self.images.check(request, model)
        recorded = None if failure is not None else self.replays.match(request)
        if recorded is not None:
            plan = recorded.plan(now)  # the recorded lifecycle, from now
        else:
            plan = self.settings.timings.plan(
                request,
                now,
                self.rng,
                failure or self.moderator.moderate(request),
                scale=model.timing_scale,
                quality=model.timing_quality,
            )
        on_callback = (
            scenario.name.removeprefix("callback:")
            if scenario is not None and scenario.kind == "callback"
            else None
        )
        while True:
            task = model.task(self._ids.new(now), owner, request, plan, call.base_url, on_callback)
            added = await self.store.add_task(
                NewTask(task, profile.credits, profile.max_concurrent, now, claim)
            )
            if not isinstance(added, Exists):
                break
            if added.claim is not None:  # the key is bound already
                assert claim is not None
                if added.claim.fingerprint != claim.fingerprint:
                    raise idempotency.conflict(claim, added.task.id)
                call.replayed = True
                if self.request_metrics is not None:
                    self.request_metrics.idempotent_replays += 1
                return added.task
            # an id drawn twice: draw another
        refusal = added.reason if isinstance(added, Refused) else None
        if refusal is Refusal.CONCURRENCY:
            next_end = await self.store.next_end(owner, now)
            raise RateLimited(
                f"Too many concurrent tasks: at most {profile.max_concurrent} may be pending or "
                "processing for this key",
                retry_after=retry_after(0 if next_end is None else next_end - now),
            )
        if refusal is Refusal.CREDITS:
            raise InsufficientQuota()
        if recorded is not None and recorded.media:
            self.replays.media[task.id] = recorded.media[0]
        self._schedule_end(task)
        return task

    async def _bring_back_recorded(self) -> None:
        """Keep the recorded tasks, created now: a read `t` seconds from now sees what the
        recording saw `t` seconds after their create."""
        self.replays.due = False
        now = self.now()
        for recorded, request in self.replays.tasks:
            task = self.models[request.model].task(
                recorded.task_id, REPLAYED, request, recorded.plan(now), ""
            )
            await self.store.add_task(NewTask(task, None, None, now))

    async def journal_answer(
        self,
        method: str,
        path: str,
        api_key: str | None,
        status: int,
        scenario: str | None,
        operation: str | None = None,
        elapsed: float | None = None,
        request_id: str | None = None,
        headers: RawHeaders = (),
        replayed: bool = False,
    ) -> None:
        """Journal one answer of the vendor's API (the key and credentials redacted), and
        count it: by `operation` (the spec's operationId) and status, its `elapsed` real
        seconds."""
        if self.request_metrics is not None:
            self.request_metrics.observe(operation, status, elapsed)
        entry = Entry(
            self.clock.now(),
            method,
            path,
            redact(api_key),
            status,
            scenario,
            request_id,
            headers,
            replayed,
        )
        await self.store.log_request(entry)
        self.changes.notify()

    async def video(self, task_id: str) -> Task | None:
        """The completed task whose result link is still live, if any (links need no key)."""
        if self.replays.due:
            await self._bring_back_recorded()
        task = await self.store.get_task(task_id)
        now = self.now()
        if task is None or task.plan.failure is not None or now < task.plan.ended:
            return None
        return task if now < task.result_expires() else None

    def recorded_video(self, task_id: str) -> str | None:
        """The recorded result video a replayed task serves, if the recording saved one."""
        return self.replays.media.get(task_id)

    # -- the end of a task ---------------------------------------------------------------------

    async def on_task_end(self, listener: EndListener) -> None:
        """Call `listener(task, ended_at)` once for every task when it ends, from now on (tasks
        that have ended already are not called back)."""
        self._end_listeners.append(listener)
        if not self._every_end:
            self._every_end = True
            now = self.now()
            for task in await self.store.tasks():
                if task.id not in self._end_timers and task.plan.ended > now:
                    self._schedule_end(task)

    def _schedule_end(self, task: Task) -> None:
        if self._end_timers:
            previous = self._end_timers.pop(task.id, None)
            if previous is not None:
                previous.cancel()
        if task.request.callback_url is None and not self._every_end:
            return  # nothing to do at its end
        self._end_timers[task.id] = self.scheduler.call_at(
            task.plan.ended, lambda when: self._task_ended(task, when)
        )

    def _task_ended(self, task: Task, when: float) -> None:
        self._end_timers.pop(task.id, None)
        self.callbacks.task_ended(task, when)
        for listener in self._end_listeners:
            listener(task, when)

    # -- admin ---------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "clock": self.clock.kind,
            "tasks": await self.store.count_tasks(),
            # the dashboard asks for the token before its first admin call when this is true
            "admin_token_required": self.settings.admin_token is not None,
        }

    async def tasks(self) -> list[Task]:
        """Every task, in creation order."""
        await self.catch_up()
        return await self.store.tasks()

    async def metrics(self) -> MetricsSnapshot:
        """What `/_mock/metrics` shows now; NotFound with metrics off."""
        counted = self.request_metrics
        if counted is None:
            raise NotFound("Metrics are off (serve --no-metrics)")
        now = self.now()
        # every served model in every status, 0 or not; a kept task of another model too
        statuses = {
            (model, status.value): 0 for model in self.models.names for status in TaskStatus
        }
        for task in await self.store.tasks():
            key = (task.request.model, task.plan.status_at(now).value)
            statuses[key] = statuses.get(key, 0) + 1
        return MetricsSnapshot(
            dict(counted.requests),
            {op: (list(h.counts), h.total) for op, h in counted.latency.items()},
            statuses,
            dict(self.callbacks.attempt_outcomes),
            self.callbacks.taken_over,
            counted.idempotent_replays,
        )

    async def accounts(self, api_key: str | None = None) -> list[tuple[str, AccountView]]:
        """Each key's credits, settled now (`api_key`: that key's only)."""
        await self.catch_up()
        listing = await self.store.accounts(self.now())
        return [(key, view) for key, view in listing if api_key is None or key == api_key]

    async def journal(
        self, wanted: EntryFilter | None = None, *, wait: float = 0.0, at_least: int = 1
    ) -> list[Entry]:
        """The journal's entries that `wanted` matches; with `wait`, as soon as there are
        `at_least` of them, or what there is after `wait` real seconds."""

        async def matching() -> list[Entry]:
            entries = await self.store.journal()
            return entries if wanted is None else [e for e in entries if wanted(e)]

        if wait <= 0:
            return await matching()

        async def enough() -> list[Entry]:
            found = await matching()
            return found if len(found) >= at_least else []

        return await self.changes.wait_for(enough, wait) or await matching()

    async def faults(self) -> list[Fault]:
        return await self.store.faults()

    async def add_fault(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault:
        """Make matching calls answer `scenario` (`times` of them, or all until removed). A
        scenario no matching call could answer is refused now, saying why; a task failure
        without an operation applies to creates, the only calls it can shape."""
        parsed = self.admission.scenario(scenario, "scenario")  # a name that means nothing
        if operation is None and parsed.kind in CREATE_ONLY:
            operation = CREATE
        keyed = [op for op in self.spec.errors if op not in self.spec.public]
        for op in [operation] if operation is not None else keyed:
            reason = unservable(parsed, op, self.spec)
            if reason is not None:
                hint = "" if operation is not None else " (give match.operation to narrow it)"
                raise InvalidRequest(
                    f"Invalid request parameters: {reason}{hint}", param="scenario"
                )
        return await self.store.add_fault(scenario, operation, api_key, times)

    async def remove_fault(self, fault_id: int) -> None:
        if not await self.store.remove_fault(fault_id):
            raise NotFound(f"No fault with id {fault_id}")

    async def clear_faults(self) -> None:
        await self.store.clear_faults()

    async def deliveries(self, task_id: str | None = None, *, wait: float = 0.0) -> list[Delivery]:
        """Callback deliveries (of `task_id`'s only); with `wait`, as soon as one has an
        answered attempt, or none after `wait` real seconds."""
        if wait <= 0:
            return await self.store.deliveries(task_id)

        async def answered() -> list[Delivery]:
            found = await self.store.deliveries(task_id)
            return found if any(a.answered for d in found for a in d.attempts) else []

        return await self.changes.wait_for(answered, wait)

    async def _admin_task(self, task_id: str) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"No task with id {task_id}")
        return task

    async def cancel(self, task_id: str) -> Task:
        """End a pending or processing task now as failed, `request_cancelled`: its credits
        are released and its callback goes out."""
        task = await self._admin_task(task_id)
        now = self.now()
        status = task.status_at(now)
        if status.terminal:
            raise InvalidRequest(f"Task is already {status.value}", param="task_id")
        task.plan = task.plan.failed_from(
            now, Failure("request_cancelled", "The task was cancelled")
        )
        await self.store.save_plan(task)
        self._schedule_end(task)
        self.scheduler.run_due()  # the end is due now: fire it now, on either clock
        await self.settle()
        return task

    async def replay_callback(self, task_id: str) -> Delivery:
        """Send an ended task's callback again, as a new delivery with its own retries."""
        task = await self._admin_task(task_id)
        if task.request.callback_url is None:
            raise InvalidRequest("Task has no callback_url", param="task_id")
        status = task.status_at(self.now())
        if not status.terminal:
            raise InvalidRequest(
                f"Task is still {status.value}: a callback is sent when it ends", param="task_id"
            )
        delivery = self.callbacks.replay(task)
        await self.settle()
        return delivery

    async def reset(self) -> None:
        """Forget every task, fault, journal entry, balance, bucket and delivery: a fresh start
        (the clock stays where it is)."""
        await self.store.clear()
        self.replays.due = bool(self.replays.tasks)  # the recorded tasks start again
        self.admission.chaos.reset()  # the same seed draws the same failures again
        self.scheduler.clear()
        self._end_timers.clear()
        self.callbacks.reset()
