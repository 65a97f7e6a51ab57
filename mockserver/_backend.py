"""The simulator's state and every transition of it. No web imports: the HTTP layer parses a
request, calls one method here and serialises what comes back.
"""

from __future__ import annotations

import fnmatch
import gc
import re
import secrets
import string
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ._callbacks import CallbackEngine, Delivery
from ._clock import Clock, RealClock, VirtualClock
from ._errors import (
    Forbidden,
    InsufficientQuota,
    InternalError,
    InvalidRequest,
    MockError,
    NotFound,
    RateLimited,
    Unauthorized,
)
from ._faults import Faults
from ._journal import Journal
from ._limits import Account, TokenBucket
from ._profiles import KeyProfile
from ._scenarios import Scenario, ScenarioError, parse_scenario
from ._scheduler import Scheduler, Timer
from ._settings import Settings
from ._spec import CREATE, FieldError, Spec, load_spec
from ._ssrf import PolicyViolation, Resolver, check_at_submit
from ._store import MemoryStore, Store
from ._tasks import Failure, Plan, Task, VideoRequest

if TYPE_CHECKING:
    from ._sqlite import Database, SqliteStore

#: Called once when a task reaches its terminal state, at the simulated time it ended.
EndListener = Callable[[Task, float], None]

TASK_ID_PREFIX = "task-unified-"
#: Reservations a key without limits settles per create: a backlog (tasks that ended while
#: nobody asked) drains 8 times as fast as tasks are created, with no pause for it.
_SETTLE_PER_CREATE = 8
_ID_ALPHABET = string.ascii_lowercase + string.digits
#: byte b -> _ID_ALPHABET[b % 36], for bytes.translate; the last 4 bytes (252 = 7 x 36) dropped
_ID_TABLE = bytes(ord(_ID_ALPHABET[b % 36]) for b in range(256))
_ID_DROPPED = bytes(range(252, 256))
_MAX_LISTED_ERRORS = 5
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
        RateLimited,
        InternalError,
    )
}


def make_clock(settings: Settings) -> Clock:
    if settings.clock == "virtual":
        return VirtualClock(settings.start_time)
    return RealClock(settings.speed, settings.start_time)


def _encodes(body: dict[str, Any]) -> bool:
    """True if `body` encodes as JSON: then it has no lone surrogate, which orjson refuses. A
    tenth of `_has_lone_surrogate`'s walk, on the path of every create."""
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        return False
    return True


def _has_lone_surrogate(value: Any) -> str | None:
    """The dotted path of the first string that is not valid Unicode, if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ""
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        path = _has_lone_surrogate(item)
        if path is not None:
            return f"{key}.{path}" if path else str(key)
    return None


class Simulator:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        spec: Spec | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        """`resolver(host, port)` resolves callback hosts (default: the system's, bounded).

        With `settings.db_path`, the state is loaded from that SQLite file (created if missing)
        and every change is written through to it (`mockserver._sqlite`); the stored clock wins
        over `settings` (and over a `clock` passed here). Without it, nothing touches a database.
        """
        self.settings = settings or Settings()
        self.spec = spec or load_spec()
        #: The database of `--db`, or None: every write-through below is behind that check.
        self.db: Database | None = None
        sqlite_store: SqliteStore | None = None
        if self.settings.db_path is not None:
            if store is not None:
                raise ValueError("pass a store or settings.db_path, not both")
            from ._sqlite import Database, SqliteJournal, SqliteStore

            self.db = Database(self.settings.db_path)
            restored = self.db.restore_clock(self.settings)
            self.clock = restored or clock or make_clock(self.settings)
            self.db.save_clock(self.clock)  # the real clock's anchor, from now
            store = sqlite_store = SqliteStore(self.db)
            self.journal: Journal = SqliteJournal(self.db)
        else:
            self.clock = clock or make_clock(self.settings)
            self.journal = Journal()
        self.scheduler = Scheduler(self.clock)
        self.store: Store = store if store is not None else MemoryStore()
        self._random_pool = ""
        self._random_at = 0
        self._blocked_terms = [
            (re.compile(rf"\b{re.escape(term)}\b"), message)
            for term, message in self.settings.profiles.moderation.blocked_terms.items()
        ]
        # one search tells a clean prompt (nearly all of them) from one to look at term by term
        self._any_blocked_term = (
            re.compile("|".join(p.pattern for p, _ in self._blocked_terms))
            if self._blocked_terms
            else None
        )
        self._end_listeners: list[EndListener] = []
        #: whether every task needs an end event (an `on_task_end` listener), or only those with
        #: a callback URL: billing settles lazily (`Account.settle(now)`), so an end timer for
        #: each of thousands of tasks a second would be work, and memory, for nothing
        self._every_end = False
        self._end_timers: dict[str, Timer] = {}
        self.faults = Faults()
        self._accounts: dict[str, Account] = {}
        self._buckets: dict[str, TokenBucket] = {}
        # billing first, exactly at the end: the vendor sends a callback once billing is done
        self._end_listeners.append(lambda task, when: self.account(task.owner).settle(when))
        self.callbacks = CallbackEngine(
            self.clock, self.scheduler, self.settings, resolver=resolver
        )
        self._end_listeners.append(self.callbacks.task_ended)
        if self.db is not None:
            assert sqlite_store is not None
            self.callbacks.sink = self.db
            self._load(sqlite_store)
        # An unset choice takes the spec's default, else its example (16:9, 4 s, 720p); fields
        # without an enum (prompt, image_urls, callback_url) have no default: their examples are
        # placeholders, and a placeholder callback URL would send traffic to a stranger.
        self._defaults = {
            name: prop.get("default", prop.get("example"))
            for name, prop in self.spec.request_schema["properties"].items()
            if "enum" in prop
        }

    # -- persistence (--db) --------------------------------------------------------------------

    def _load(self, store: SqliteStore) -> None:
        """Take back the stored state: tasks (and the balances they imply), deliveries, the
        end events still to come. Nothing runs here: `start()` runs what fell due meanwhile."""
        assert self.db is not None
        for key in self.db.load_accounts():
            self._accounts[key] = Account(self.profile(key).credits)
        now = self.now()
        for task, end_handled in store.load():
            # a reservation per task; settling charges or releases those that have ended
            self.account(task.owner).reserve(task)
            # an end still to come, or one whose callback never started (it ended while the
            # server was down, or just before it stopped): its event runs; billing is derived,
            # so a task without a callback that has ended needs nothing more
            if task.plan.ended > now or (task.request.callback_url and not end_handled):
                self._schedule_end(task)
        for account in self._accounts.values():
            account.settle(now)
        for delivery in self.db.load_deliveries(self.store.get):
            self.callbacks.restore(delivery)

    def start(self) -> None:
        """With `--db`: run what fell due while the server was down (ends, callbacks and their
        retries), now; the app's lifespan calls it. On the real clock this starts the scheduler,
        which would otherwise wait for the first event scheduled inside the event loop."""
        if self.db is None:
            return
        if isinstance(self.clock, VirtualClock):
            self.scheduler.run_due()
        else:
            self.scheduler.start()

    def close(self) -> None:
        """Close the database (checkpointing its WAL), if any; idempotent."""
        if self.db is not None:
            self.db.close()

    async def aclose(self) -> None:
        """The app's shutdown: stop the scheduler and the callbacks in flight (a pending
        delivery resumes after a restart on `--db`), then close the database."""
        await self.scheduler.aclose()
        await self.callbacks.aclose()
        self.close()

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Virtual clock only: move time forward, running what falls due. Returns the new time."""
        if not isinstance(self.clock, VirtualClock):
            raise InvalidRequest(
                "The clock is real: start the server with --clock virtual to advance it",
                param="seconds",
            )
        now = self.scheduler.advance(seconds)
        if self.db is not None:
            self.db.save_clock(self.clock)
        return now

    async def advance_settled(self, seconds: float) -> float:
        """`advance`, letting the callback attempts sent on the way settle at their time, so
        that retries due within the window run in it too. Returns the new time."""
        if not isinstance(self.clock, VirtualClock):
            self.advance(seconds)  # raises the real clock's error
        now = await self.callbacks.advance(seconds)
        if self.db is not None:
            self.db.save_clock(self.clock)
        return now

    async def settle(self) -> None:
        """Virtual clock: run what is due now and wait for the callbacks it sends. The real
        clock's scheduler does that by itself."""
        if isinstance(self.clock, VirtualClock):
            await self.callbacks.advance(0)

    # -- auth ----------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str:
        """The API key of a `Bearer` authorization header, or Unauthorized."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or len(token.split()) != 1:  # empty, or with spaces inside
            raise Unauthorized()
        if self.settings.api_keys is not None and token not in self.settings.api_keys:
            raise Unauthorized()
        return token

    # -- scenarios and limits ------------------------------------------------------------------

    def profile(self, owner: str) -> KeyProfile:
        return self.settings.profiles.for_key(owner)

    def accounts(self) -> list[tuple[str, Account]]:
        return list(self._accounts.items())

    def account(self, owner: str) -> Account:
        account = self._accounts.get(owner)
        if account is None:
            account = self._accounts[owner] = Account(self.profile(owner).credits)
            if self.db is not None:
                self.db.add_account(owner)
        return account

    def scenario(self, name: str, source: str) -> Scenario:
        try:
            return parse_scenario(name, self.spec)
        except ScenarioError as exc:
            raise InvalidRequest(
                f"Invalid request parameters: {source}: {exc}", param=source
            ) from exc

    def request_scenario(
        self, operation: str, owner: str, header: str | None, prefer: str | None
    ) -> Scenario | None:
        """The scenario an admin fault or the request's headers name, most specific first."""
        fault = self.faults.take(operation, owner)
        if fault is not None:
            return self.scenario(fault.scenario, "fault")
        if header:
            return self.scenario(header, "X-Mock-Scenario")
        if prefer and (found := _PREFER_CODE.search(prefer)) and found.group(1) != "200":
            return self.scenario(f"http:{found.group(1)}", "Prefer")
        return None

    def fallback_scenario(
        self, operation: str, owner: str, prompt: str | None = None
    ) -> Scenario | None:
        """A prompt marker (with --prompt-markers), else the key's default scenario; a default
        task failure shapes the key's creates and leaves its queries alone."""
        if (
            prompt is not None
            and self.settings.prompt_markers
            and (found := _MARKER.search(prompt))
        ):
            return self.scenario(found.group(1), "prompt")
        default = self.profile(owner).scenario
        if not default:
            return None
        scenario = self.scenario(default, "key profile")
        return None if scenario.kind == "task_failure" and operation != CREATE else scenario

    def raise_for_scenario(self, operation: str, scenario: Scenario | None) -> None:
        """Answer an HTTP-error scenario with the operation's documented error."""
        if scenario is None or scenario.kind != "http_error":
            if scenario is not None and scenario.kind == "task_failure" and operation != CREATE:
                raise InvalidRequest(
                    f"Invalid request parameters: scenario {scenario.name} applies to creates only",
                    param="X-Mock-Scenario",
                )
            return
        assert scenario.status is not None
        if scenario.status not in self.spec.errors[operation]:
            documented = ", ".join(str(s) for s in sorted(self.spec.errors[operation]))
            raise InvalidRequest(
                f"Invalid request parameters: scenario {scenario.name} is not a documented "
                f"response of {operation} (documented errors: {documented})",
                param="X-Mock-Scenario",
            )
        raise _ERROR_BY_STATUS[scenario.status]()

    def admit(self, owner: str) -> None:
        """Take a token from the key's bucket, or answer 429."""
        profile = self.profile(owner)
        if profile.rate is None:
            return
        bucket = self._buckets.get(owner)
        if bucket is None:
            size = profile.bucket_size
            bucket = self._buckets[owner] = TokenBucket(profile.rate, size, size, self.now())
        if not bucket.take(self.now()):
            raise RateLimited()

    def moderate(self, request: VideoRequest) -> Failure | None:
        """The moderation failure a request earns, if any: blocked terms, images of people."""
        moderation = self.settings.profiles.moderation
        prompt = request.prompt.lower()
        if self._any_blocked_term is not None and self._any_blocked_term.search(prompt):
            for pattern, message in self._blocked_terms:  # the first term listed wins
                if pattern.search(prompt):
                    return Failure(
                        "content_policy_violation", f"Content policy violation: {message}"
                    )
        for url in request.image_urls:
            if any(fnmatch.fnmatch(url, pattern) for pattern in moderation.people_images):
                return Failure(
                    "content_policy_violation",
                    "Content policy violation: photorealistic people detected",
                )
        return None

    # -- create --------------------------------------------------------------------------------

    def parse_request(self, body: object) -> VideoRequest:
        """Check a create body against the spec's schema; fill in the documented defaults."""
        errors = self.spec.request_errors(body)
        if self.callbacks.policy.allow_http:
            errors = [e for e in errors if not self._is_https_only_error(e)]
        if errors:
            detail = "; ".join(str(e) for e in errors[:_MAX_LISTED_ERRORS])
            raise InvalidRequest(
                f"Invalid request parameters: {detail}", param=errors[0].field or None
            )
        assert isinstance(body, dict)
        bad = None if _encodes(body) else _has_lone_surrogate(body)
        if bad is not None:
            raise InvalidRequest(
                f"Invalid request parameters: {bad}: not valid Unicode (lone surrogate)", param=bad
            )
        merged = {**self._defaults, **body}
        if None in merged.values():  # an explicit null takes the default
            merged = {**self._defaults, **{k: v for k, v in body.items() if v is not None}}
        return VideoRequest(
            # enum values (the schema checked them): one string each for all the stored tasks,
            # not a copy per task from the JSON parser
            model=sys.intern(merged["model"]),
            prompt=merged["prompt"],
            aspect_ratio=sys.intern(merged["aspect_ratio"]),
            duration=int(merged["duration"]),
            quality=sys.intern(merged["quality"]),
            image_urls=tuple(merged.get("image_urls") or ()),
            # from the body only: the spec's example URL is no default to send callbacks to
            callback_url=self._checked_callback_url(body.get("callback_url")),
        )

    def _is_https_only_error(self, error: FieldError) -> bool:
        """With --callback-allow-http, the policy judges the scheme, not the spec's pattern."""
        pattern = self.spec.request_property("callback_url").get("pattern")
        return (
            error.field == "callback_url"
            and pattern is not None
            and error.message.endswith(f'does not match "{pattern}"')
        )

    def _checked_callback_url(self, url: str | None) -> str | None:
        """The vendor's callback rules at submit; delivery checks again (DNS can change)."""
        if url is not None:
            try:
                check_at_submit(url, self.callbacks.policy, self.callbacks.resolver)
            except PolicyViolation as exc:
                raise InvalidRequest(
                    f"Invalid request parameters: callback_url: {exc.reason}", param="callback_url"
                ) from exc
        return url

    def _random_suffix(self) -> str:
        """8 lowercase alphanumerics, cut from a pool made of OS randomness 4 KB at a time: one
        system call per ~500 ids, not 8 per id. Bytes >= 252 are dropped, so that `b % 36`
        stays uniform."""
        at = self._random_at
        if at + 8 > len(self._random_pool):
            raw = secrets.token_bytes(4096)
            self._random_pool = raw.translate(_ID_TABLE, _ID_DROPPED).decode("ascii")
            at = 0
        self._random_at = at + 8
        return self._random_pool[at : at + 8]

    def _new_task_id(self, now: float) -> str:
        while True:
            suffix = self._random_suffix()
            task_id = f"{TASK_ID_PREFIX}{int(now)}-{suffix}"
            if task_id not in self.store:
                return task_id

    def plan_for(self, request: VideoRequest, now: float, failure: Failure | None = None) -> Plan:
        timings = self.settings.timings
        started = now + timings.queue_seconds
        finished = started + timings.processing_seconds(request)
        return Plan(now, started, finished, failure)

    def create_task(
        self, owner: str, request: VideoRequest, base_url: str, scenario: Scenario | None = None
    ) -> Task:
        """Admit a parsed request as a new task: model access, concurrency, credits, then the
        plan, which a failure scenario or moderation may end in `failed`."""
        now = self.now()
        profile = self.profile(owner)
        if profile.models is not None and request.model not in profile.models:
            raise Forbidden(f"Token does not have access to model: {request.model}")
        account = self.account(owner)
        if profile.max_concurrent is None and account.credits is None:
            # nothing below depends on the balance: keep up a few at a time, not all the tasks
            # that ended since the last create at once (a pause of ~1.5 us each)
            account.settle(now, at_most=_SETTLE_PER_CREATE)
        else:
            account.settle(now)
        if profile.max_concurrent is not None and account.running() >= profile.max_concurrent:
            raise RateLimited(
                f"Too many concurrent tasks: at most {profile.max_concurrent} may be pending or "
                "processing for this key"
            )
        price = self.settings.pricing.credits(request)
        remaining = account.remaining
        if remaining is not None and price > remaining + 1e-9:
            raise InsufficientQuota()
        failure = scenario.failure if scenario is not None else None
        task = Task(
            id=self._new_task_id(now),
            owner=owner,
            request=request,
            plan=self.plan_for(request, now, failure or self.moderate(request)),
            credits=price,
            base_url=base_url.rstrip("/"),
        )
        self.store.add(task)
        account.reserve(task)
        self._schedule_end(task)
        every = self.settings.gc_freeze_every
        if every and len(self.store) % every == 0:
            gc.collect(1)  # young garbage first: what is frozen is never collected
            gc.freeze()
        return task

    # -- the end of a task ---------------------------------------------------------------------

    def on_task_end(self, listener: EndListener) -> None:
        """Call `listener(task, ended_at)` once for every task when it ends, from now on (tasks
        that have ended already are not called back)."""
        self._end_listeners.append(listener)
        if not self._every_end:
            self._every_end = True
            now = self.now()
            for task in self.store:
                if task.id not in self._end_timers and task.plan.ended > now:
                    self._schedule_end(task)

    def _schedule_end(self, task: Task) -> None:
        if self._end_timers:
            previous = self._end_timers.pop(task.id, None)
            if previous is not None:
                previous.cancel()
        if task.request.callback_url is None and not self._every_end:
            return  # nothing to do at its end: billing settles when next asked
        self._end_timers[task.id] = self.scheduler.call_at(
            task.plan.ended, lambda when: self._task_ended(task, when)
        )

    def _task_ended(self, task: Task, when: float) -> None:
        self._end_timers.pop(task.id, None)
        for listener in self._end_listeners:
            listener(task, when)

    # -- query ---------------------------------------------------------------------------------

    def get_task(self, owner: str, task_id: str) -> Task:
        if not task_id.startswith(TASK_ID_PREFIX):
            raise InvalidRequest(param="task_id")
        task = self.store.get(task_id)
        if task is None:
            raise NotFound()
        if task.owner != owner:
            raise Forbidden()
        return task

    def task_for_video(self, task_id: str) -> Task | None:
        """The completed task whose result link is still live, if any (links need no key)."""
        task = self.store.get(task_id)
        now = self.now()
        if task is None or task.plan.failure is not None or now < task.plan.ended:
            return None
        return task if now < task.result_expires() else None

    # -- admin ---------------------------------------------------------------------------------

    def _admin_task(self, task_id: str) -> Task:
        task = self.store.get(task_id)
        if task is None:
            raise NotFound(f"No task with id {task_id}")
        return task

    def cancel_task(self, task_id: str) -> Task:
        """End a pending or processing task now as failed, `request_cancelled`: its end
        listeners run (billing releases its credits, its callback goes out)."""
        task = self._admin_task(task_id)
        now = self.now()
        status = task.status_at(now)
        if status.terminal:
            raise InvalidRequest(f"Task is already {status.value}", param="task_id")
        cancelled = Failure("request_cancelled", "The task was cancelled")
        task.plan = task.plan.failed_from(now, cancelled)
        self.store.update(task)
        self.account(task.owner).replanned(task)
        self._schedule_end(task)
        self.scheduler.run_due()  # the end is due now: fire it now, on either clock
        return task

    def replay_callback(self, task_id: str) -> Delivery:
        """Send an ended task's callback again, as a new delivery with its own retries."""
        task = self._admin_task(task_id)
        if task.request.callback_url is None:
            raise InvalidRequest("Task has no callback_url", param="task_id")
        status = task.status_at(self.now())
        if not status.terminal:
            raise InvalidRequest(
                f"Task is still {status.value}: a callback is sent when it ends", param="task_id"
            )
        return self.callbacks.replay(task)

    def reset(self) -> None:
        """Forget every task, fault, journal entry, balance and bucket: a fresh start (the
        database's too, in one transaction)."""
        if self.db is not None:
            self.db.clear()
        self.store.clear()
        self.scheduler.clear()
        self._end_timers.clear()
        self.faults.clear()
        self.journal.clear()
        self._accounts.clear()
        self._buckets.clear()
        self.callbacks.reset()
