"""The state in Redis (`--store redis://HOST:PORT/DB`): the store several simulator processes
can share.

Every key starts with the store's prefix (`evolink-mock` by default), so that one Redis keeps
several mocks apart. Each check-and-change that two processes could race on is one Lua script,
run atomically by Redis: a task kept against its key's concurrency cap and credits (with the
settlement of what has ended), a token taken from a bucket, a `times: N` fault used up, a
callback delivery claimed or taken over.

Connections: each event loop that calls the store (the server's, a test's) has a client and a
pool of its own, and the call runs there. The commands that calls on one loop send while a
batch is on its way to Redis go together in the next: one round trip for many requests' steps,
each command still on its own (`_Link`).

Callbacks: the process that creates a task with a callback URL schedules its end (so does every
process that starts while it runs); the first to save the end delivery sends it, and its retries,
as the delivery's owner. Each process holds a lease, renewed while it runs (`take_over`, every
second, and with each save); when a process dies (`kill -9`) or hangs past the lease, another
takes over the ends it was to handle and its pending deliveries, and carries them on with the
same webhook-ids, resending an attempt that was in flight: at least once, never lost. A save by
a process whose delivery was taken over is refused, so it stops sending.

| key | what |
|---|---|
| `P:format` | the record format of everything under the prefix (`storage.records.FORMAT`) |
| `P:task:ID` | a task, as its record (JSON) |
| `P:order` | task ids, oldest first |
| `P:handled` | ids of tasks whose end delivery a process has saved (the one that sends it) |
| `P:accounts` | keys with an account, in the order they were opened |
| `P:acct:KEY` | an account: `credits` (empty: unlimited), `used` |
| `P:run:KEY` | the key's reserved tasks, scored by when each ends |
| `P:price`, `P:final` | each task's price, and how it ends (`c` completed, `f` failed) |
| `P:bucket:KEY` | a token bucket: `tokens`, `at` |
| `P:faults`, `P:fault_ids` | admin faults (records by id), and their id counter |
| `P:journal` | the request journal (records), capped |
| `P:delivery:WEBHOOK_ID`, `P:deliveries` | callback deliveries (records), and their ids in order |
| `P:owner`, `P:pending:TOKEN` | the process sending each delivery, and each one's pending ones |
| `P:end_owner`, `P:ends:TOKEN` | the process to end each task with a callback URL (its creator) |
| `P:procs` | the processes that own something here: looked at for a lapsed lease |
| `R:alive:TOKEN` | a process's lease (`R`: the root prefix), lapsing `lease` s after renewal |
| `P:clock` | the clock: `v`, `kind`, `speed`, `wall`, `sim` |

Every JSON record carries `v`, its format. Opening a prefix that release 497264d wrote (no
`P:format`: tasks and journal entries as lists) rewrites its records to this format first, one
process at a time (`P:migrating`); stop the replicas of that release before starting this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import secrets
import threading
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from ..domain.clock import Clock, RealClock
from ..domain.deliveries import MAX_DELIVERIES, Delivery, Outcome
from ..domain.faults import Fault
from ..domain.journal import MAX_ENTRIES, Entry
from ..domain.limits import AccountView
from ..domain.tasks import Task, TaskStatus
from .base import (
    NOTHING_TAKEN,
    Added,
    AddResult,
    ClockState,
    Exists,
    NewTask,
    Refusal,
    Refused,
    Restored,
    StoreUnavailable,
    TakenOver,
)
from .records import (
    FORMAT,
    clock_from,
    delivery_from,
    delivery_record,
    dumps,
    entry_from,
    entry_record,
    fault_from,
    fault_record,
    legacy_entry,
    legacy_task,
    task_from,
    task_record,
)

#: Seconds to wait for Redis before an operation fails (and the request answers 500).
SOCKET_TIMEOUT = 2.0
#: Connections one store opens at most on one event loop; more calls at once wait for one, up
#: to POOL_WAIT s.
MAX_CONNECTIONS = 32
POOL_WAIT = 10.0
#: Commands one round trip carries at most (`_Link`).
MAX_BATCH = 256
#: Seconds a process's lease on its callback deliveries lasts unless renewed (every second
#: while it runs): how long the deliveries of a killed process wait to be taken over.
LEASE = 5.0

_P = ParamSpec("_P")
_T = TypeVar("_T")

_LUA_HELPERS = """
local function settle(p, owner, now)
  local run = p .. ':run:' .. owner
  local ended = redis.call('ZRANGEBYSCORE', run, '-inf', now)
  for _, id in ipairs(ended) do
    redis.call('ZREM', run, id)
    if redis.call('HGET', p .. ':final', id) == 'c' then
      local price = redis.call('HGET', p .. ':price', id)
      redis.call('HINCRBYFLOAT', p .. ':acct:' .. owner, 'used', price)
    end
  end
end
local function reserved(p, owner)
  local total = 0
  for _, id in ipairs(redis.call('ZRANGE', p .. ':run:' .. owner, 0, -1)) do
    total = total + tonumber(redis.call('HGET', p .. ':price', id))
  end
  return total
end
"""

# ARGV: prefix, id, owner, row, ends, price, final, credits ('' = unlimited), cap ('' = none), now,
# and for a task with a callback URL: root, token, lease (ms) (this process handles its end)
_ADD_TASK = (
    _LUA_HELPERS
    + """
local p, id, owner = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. ':task:' .. id) == 1 then return 'duplicate' end
local acct = p .. ':acct:' .. owner
if redis.call('EXISTS', acct) == 0 then
  redis.call('HSET', acct, 'credits', ARGV[8], 'used', '0')
  redis.call('RPUSH', p .. ':accounts', owner)
end
settle(p, owner, ARGV[10])
local credits = redis.call('HGET', acct, 'credits')
if ARGV[9] ~= '' and redis.call('ZCARD', p .. ':run:' .. owner) >= tonumber(ARGV[9]) then
  return 'concurrency'
end
if credits ~= '' then
  local left = tonumber(credits) - tonumber(redis.call('HGET', acct, 'used')) - reserved(p, owner)
  if tonumber(ARGV[6]) > left + 1e-9 then return 'credits' end
end
redis.call('SET', p .. ':task:' .. id, ARGV[4])
redis.call('RPUSH', p .. ':order', id)
redis.call('ZADD', p .. ':run:' .. owner, ARGV[5], id)
redis.call('HSET', p .. ':price', id, ARGV[6])
redis.call('HSET', p .. ':final', id, ARGV[7])
if ARGV[12] then
  redis.call('SADD', p .. ':ends:' .. ARGV[12], id)
  redis.call('HSET', p .. ':end_owner', id, ARGV[12])
  redis.call('SADD', p .. ':procs', ARGV[12])
  redis.call('SET', ARGV[11] .. ':alive:' .. ARGV[12], '1', 'PX', ARGV[13])
end
return 'ok'
"""
)

# ARGV: prefix, owner, now -> {credits, used, reserved, running, first end or ''}
_ACCOUNT = (
    _LUA_HELPERS
    + """
local p, owner = ARGV[1], ARGV[2]
local acct = p .. ':acct:' .. owner
if redis.call('EXISTS', acct) == 0 then return false end
settle(p, owner, ARGV[3])
local first = redis.call('ZRANGE', p .. ':run:' .. owner, 0, 0, 'WITHSCORES')
return {
  redis.call('HGET', acct, 'credits'),
  redis.call('HGET', acct, 'used'),
  tostring(reserved(p, owner)),
  redis.call('ZCARD', p .. ':run:' .. owner),
  first[2] or '',
}
"""
)

# ARGV: prefix, id, owner, row, ends, final
_SAVE_PLAN = """
local p, id, owner = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', p .. ':task:' .. id, ARGV[4])
redis.call('HSET', p .. ':final', id, ARGV[6])
if redis.call('ZSCORE', p .. ':run:' .. owner, id) then
  redis.call('ZADD', p .. ':run:' .. owner, ARGV[5], id)
end
"""

# KEYS: the clock; ARGV: kind, speed, wall, sim, format. A virtual clock's time only moves
# forward: two processes advancing at once keep the later time.
_SAVE_CLOCK = """
local kind, sim = redis.call('HGET', KEYS[1], 'kind'), redis.call('HGET', KEYS[1], 'sim')
if kind == 'virtual' and ARGV[1] == 'virtual' and sim and tonumber(sim) > tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'speed', ARGV[2], 'wall', ARGV[3], 'sim', ARGV[4],
  'v', ARGV[5])
return 1
"""

# KEYS: the bucket; ARGV: rate, size, now -> seconds until a token ('0' if one was taken)
_TAKE_TOKEN = """
local rate, size, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, at = size, now
local kept = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if kept[1] then tokens, at = tonumber(kept[1]), tonumber(kept[2]) end
tokens = math.min(size, tokens + math.max(0, now - at) * rate)
at = math.max(at, now)
local wait = 0
if tokens >= 1 - 1e-9 then tokens = tokens - 1
elseif rate > 0 then wait = (1 - tokens) / rate
else wait = -1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
return tostring(wait)
"""

# KEYS: the faults hash; ARGV: operation, api key -> the fault taken (JSON, as it was) or nil
_TAKE_FAULT = """
local best, best_rank, best_id = nil, -1, nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local fault = cjson.decode(all[i + 1])
  local op_ok = fault.operation == cjson.null or fault.operation == ARGV[1]
  local key_ok = fault.api_key == cjson.null or fault.api_key == ARGV[2]
  if op_ok and key_ok then
    local rank = (fault.operation ~= cjson.null and 1 or 0)
    rank = rank + (fault.api_key ~= cjson.null and 1 or 0)
    local id = tonumber(all[i])
    if rank > best_rank or (rank == best_rank and id < best_id) then
      best, best_rank, best_id = fault, rank, id
    end
  end
end
if best == nil then return false end
local taken = cjson.encode(best)
if best.remaining ~= cjson.null then
  best.remaining = best.remaining - 1
  if best.remaining <= 0 then
    redis.call('HDEL', KEYS[1], tostring(best_id))
  else
    redis.call('HSET', KEYS[1], tostring(best_id), cjson.encode(best))
  end
end
return taken
"""

# KEYS: the journal; ARGV: the entry (JSON), how many entries it keeps
_LOG_REQUEST = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
"""


# ARGV: prefix, root, token, lease (ms), webhook id, row, pending ('1' or ''), the task's id if
# this is an end delivery ('' if not), limit -> 1 saved, 0 not this process's delivery
_SAVE_DELIVERY = """
local p, root, token, wid = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local owner = redis.call('HGET', p .. ':owner', wid)
if owner and owner ~= token then return 0 end
if not owner then
  local task = ARGV[8]
  if task ~= '' then
    if redis.call('SADD', p .. ':handled', task) == 0 then return 0 end
    local ender = redis.call('HGET', p .. ':end_owner', task)
    if ender then
      redis.call('SREM', p .. ':ends:' .. ender, task)
      redis.call('HDEL', p .. ':end_owner', task)
    end
  end
  redis.call('HSET', p .. ':owner', wid, token)
  redis.call('SADD', p .. ':procs', token)
  redis.call('RPUSH', p .. ':deliveries', wid)
  if redis.call('LLEN', p .. ':deliveries') > tonumber(ARGV[9]) then
    local dropped = redis.call('LPOP', p .. ':deliveries')
    local was = redis.call('HGET', p .. ':owner', dropped)
    if was then redis.call('SREM', p .. ':pending:' .. was, dropped) end
    redis.call('DEL', p .. ':delivery:' .. dropped)
    redis.call('HDEL', p .. ':owner', dropped)
  end
end
redis.call('SET', p .. ':delivery:' .. wid, ARGV[6])
if ARGV[7] == '1' then
  redis.call('SADD', p .. ':pending:' .. token, wid)
else
  redis.call('SREM', p .. ':pending:' .. token, wid)
end
redis.call('SET', root .. ':alive:' .. token, '1', 'PX', ARGV[4])
return 1
"""

# ARGV: prefix, root, token, lease (ms), adopt ('1' or '': renew only) -> {rows of the
# deliveries taken over, ids of the tasks whose end is taken over}, from every process with
# something here whose lease lapsed
_TAKE_OVER = """
local p, root, token = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', root .. ':alive:' .. token, '1', 'PX', ARGV[4])
local rows, ends = {}, {}
if ARGV[5] ~= '1' then return {rows, ends} end
for _, dead in ipairs(redis.call('SMEMBERS', p .. ':procs')) do
  if dead ~= token and redis.call('EXISTS', root .. ':alive:' .. dead) == 0 then
    for _, wid in ipairs(redis.call('SMEMBERS', p .. ':pending:' .. dead)) do
      local row = redis.call('GET', p .. ':delivery:' .. wid)
      if row then
        redis.call('HSET', p .. ':owner', wid, token)
        redis.call('SADD', p .. ':pending:' .. token, wid)
        table.insert(rows, row)
      end
    end
    for _, id in ipairs(redis.call('SMEMBERS', p .. ':ends:' .. dead)) do
      if redis.call('SISMEMBER', p .. ':handled', id) == 0 then
        redis.call('HSET', p .. ':end_owner', id, token)
        redis.call('SADD', p .. ':ends:' .. token, id)
        table.insert(ends, id)
      end
    end
    redis.call('DEL', p .. ':pending:' .. dead, p .. ':ends:' .. dead)
    redis.call('SREM', p .. ':procs', dead)
    redis.call('SADD', p .. ':procs', token)
  end
end
return {rows, ends}
"""


#: Seconds a process opening a prefix of an older format waits for another to migrate it.
MIGRATION_WAIT = 30.0


def _fault_from(text: str | bytes) -> Fault:
    return fault_from(json.loads(text))


def _task_from(text: str | bytes) -> Task:
    return task_from(json.loads(text))


def _final(task: Task) -> str:
    return "c" if task.plan.final_status is TaskStatus.COMPLETED else "f"


def _number(value: float) -> str:
    return repr(float(value))


class _Script:
    """A Lua script, run by its SHA1 (loaded again if Redis lost it, as after a restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, link: _Link, keys: list[str], args: list[Any]) -> Any:
        try:
            return await link.send("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await link.send("SCRIPT", "LOAD", self.source)
            return await link.send("EVALSHA", self.sha, len(keys), *keys, *args)


class _Link:
    """One event loop's way to Redis: a client with a pool of its own (a connection belongs to
    the loop that opened it), and the batches `send` makes.

    Batches: the commands that calls on this loop send while a batch is on its way to Redis
    go together in the next one, one round trip for all of them (a pipeline, not a
    transaction: each command on its own, a script as atomic as ever). Under load, the few
    commands of each request cost a share of one round trip instead of one each."""

    def __init__(self, client: Any, holder: AsyncGenerator[None, None]) -> None:
        self.client = client
        #: an async generator started on the loop, which closes the client when the loop
        #: shuts down (`_Clients`)
        self.holder = holder
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        #: the connection the batches go over, taken from the pool on the first one
        self._connection: Any = None

    async def send(self, *command: Any) -> Any:
        """Send one command in the next batch, and wait for its answer."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._queue.append((command, answer))
        if self._sender is None:
            self._sender = loop.create_task(self._send_batches())
        return await answer

    async def _send_batches(self) -> None:
        batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        try:
            while self._queue:  # one batch at a time: what comes meanwhile waits for the next
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                # a caller that stopped waiting before its command left has it not sent
                batch = [item for item in batch if not item[1].done()]
                answers = await self._exchange([command for command, _ in batch])
                for (_, answer), result in zip(batch, answers, strict=True):
                    if answer.done():  # its caller stopped waiting
                        continue
                    if isinstance(result, Exception):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
                batch = []
        finally:
            self._sender = None
            for _, answer in [*batch, *self._queue]:  # cancelled (the loop's shutdown)
                answer.cancel()
            self._queue.clear()

    async def _exchange(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One round trip on the link's own connection: every command written at once, then
        each answer read in turn (an error answer is its command's; the others read on). A
        failed connection fails every command of the batch, and is made again for the next."""
        try:
            if self._connection is None:
                self._connection = await self.client.connection_pool.get_connection()
            connection = self._connection
            await connection.send_packed_command(
                connection.pack_commands(commands), check_health=False
            )
            answers: list[Any] = []
            for _ in commands:
                try:
                    answers.append(await connection.read_response())
                except ResponseError as exc:  # this command's error (NOSCRIPT, a script's)
                    answers.append(exc)
            return answers
        except Exception as exc:  # Redis down, unreachable, too slow: each call fails
            await self._drop_connection()
            return [exc] * len(commands)
        except BaseException:  # cancelled mid-exchange: the connection is out of step
            self._connection = None  # (closing the client disconnects it)
            raise

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
            with contextlib.suppress(Exception):
                await self.client.connection_pool.release(connection)


class _Clients:
    """A store's ways to Redis: one `_Link` for each event loop that calls the store, made on
    the loop's first call. A call runs on the caller's loop, with no hand-over to another
    thread.

    A loop that ends first (`asyncio.run` returning, a test's runner closing) closes its
    client as it shuts down its async generators: each client is held open by one (`_hold`).
    `close` closes the others."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closed = False
        #: when Redis last failed a call (or the store opened): leases seen lapsed before a
        #: lease's length has passed since may have lapsed while Redis was away, not their owner
        self.calm_since = time.monotonic()
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Link] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def here(self) -> _Link:
        """The running loop's link (`open_here` made it)."""
        return self._by_loop[asyncio.get_running_loop()]

    async def open_here(self) -> None:
        """Make the running loop's link, unless it has one."""
        if self.closed:
            raise StoreUnavailable(f"{self.url}: the store is closed")
        loop = asyncio.get_running_loop()
        if loop in self._by_loop:
            return
        # a burst (a thousand callbacks due at once) waits for one of a bounded set of
        # connections, rather than opening one each
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            decode_responses=True,
        )
        client = aioredis.Redis(connection_pool=pool)
        link = _Link(client, self._hold(loop, client))
        with self._lock:
            self._by_loop[loop] = link
        # started on this loop, the loop knows it: its shutdown closes it, and the client
        await anext(link.holder)

    async def _hold(
        self, loop: asyncio.AbstractEventLoop, client: Any
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._by_loop.pop(loop, None)
            await client.aclose(close_connection_pool=True)

    def close(self) -> None:
        """Close the clients of the loops still running (a loop that ended closed its own)."""
        self.closed = True
        with self._lock:
            held = list(self._by_loop.items())
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, link in held:
            if loop is running:
                # called from this loop, which cannot wait here: the pool closes a moment
                # later (or, if the loop ends first, as it shuts down, by the holder)
                closing = loop.create_task(link.client.aclose(close_connection_pool=True))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            elif loop.is_running():  # another thread's
                done = asyncio.run_coroutine_threadsafe(link.holder.aclose(), loop)
                with contextlib.suppress(Exception):  # a loop ending meanwhile closes it itself
                    done.result(5)


def _on_io(
    method: Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]]:
    """Run a store method on the caller's loop, with that loop's client; a Redis that fails
    (down, unreachable, too slow) raises StoreUnavailable, which the caller answers with 500."""

    async def guarded(self: RedisStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            await self._clients.open_here()
            return await method(self, *args, **kwargs)
        except RedisError as exc:
            self._clients.calm_since = time.monotonic()
            raise StoreUnavailable(f"{self.url}: {exc}") from None

    functools.update_wrapper(guarded, method)
    return guarded


class RedisStore:
    """A `Store` in Redis, shared by every process that opens the same URL and prefix."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "evolink-mock",
        journal_limit: int = MAX_ENTRIES,
        delivery_limit: int = MAX_DELIVERIES,
        lease: float = LEASE,
        _shared: RedisStore | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.journal_limit = journal_limit
        self.delivery_limit = delivery_limit
        self.lease = lease
        self._closed = False
        self._clients: _Clients
        self._scripts: dict[str, _Script]
        #: where this process's lease lives (the prefix the worlds' prefixes extend), and the
        #: token that names this process in it and as the owner of its deliveries
        self.root: str
        self.token: str
        if _shared is not None:  # another prefix on the same connection (`with_prefix`)
            self._owner = False
            self._clients, self._scripts = _shared._clients, _shared._scripts
            self.root, self.token = _shared.root, _shared.token
            return
        self._owner = True
        self.root, self.token = prefix, secrets.token_hex(8)
        # each caller's loop has a client of its own, made on its first call (`_clients`)
        self._clients = _Clients(url)
        self._scripts = {
            name: _Script(source)
            for name, source in [
                ("add_task", _ADD_TASK),
                ("account", _ACCOUNT),
                ("save_plan", _SAVE_PLAN),
                ("take_token", _TAKE_TOKEN),
                ("take_fault", _TAKE_FAULT),
                ("log_request", _LOG_REQUEST),
                ("save_clock", _SAVE_CLOCK),
                ("save_delivery", _SAVE_DELIVERY),
                ("take_over", _TAKE_OVER),
            ]
        }

    def with_prefix(self, prefix: str) -> RedisStore:
        """A store under another prefix on this one's connection (an isolated key's world);
        closing it leaves the connection to this store."""
        return RedisStore(
            self.url,
            prefix=prefix,
            journal_limit=self.journal_limit,
            delivery_limit=self.delivery_limit,
            lease=self.lease,
            _shared=self,
        )

    @property
    def _redis(self) -> Any:
        """The running loop's client. (redis-py's own types say bytes-or-str everywhere; with
        decode_responses it is str.)"""
        return self._clients.here().client

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[script](self._clients.here(), keys, args)

    async def _send(self, *command: Any) -> Any:
        """One command, in the running loop's next batch."""
        return await self._clients.here().send(*command)

    # -- lifecycle ------------------------------------------------------------------------------

    @_on_io
    async def open(self, balance_for: Callable[[str], float | None]) -> Restored:
        """Reach Redis (a wrong URL, or a Redis that is down, fails here), bring the prefix's
        records to this format, and read the clock and every task (and whether its end was
        handled). Accounts, buckets and faults stay in Redis; pending deliveries are another
        process's while its lease lasts, and `take_over` carries them on after."""
        await self._migrate()
        handled = set(await self._redis.smembers(self._key("handled")))
        tasks = await self._tasks()
        return Restored(await self._stored_clock(), [(t, t.id in handled) for t in tasks], [])

    async def _migrate(self) -> None:
        """Rewrite what an older release wrote under the prefix to this format (once: the
        first process to open it migrates, any other waits for it)."""
        client, deadline = self._redis, time.monotonic() + MIGRATION_WAIT
        while (found := await client.get(self._key("format"))) != str(FORMAT):
            if found not in (None, "1"):
                raise StoreUnavailable(
                    f"{self.url}: {self.prefix!r} holds records of format {found}; this "
                    f"release reads format {FORMAT}"
                )
            lock = self._key("migrating")
            if await client.set(lock, self.token, nx=True, px=int(MIGRATION_WAIT * 1000)):
                try:
                    await self._migrate_from_1()
                    await client.set(self._key("format"), str(FORMAT))
                finally:
                    await client.delete(lock)
            elif time.monotonic() > deadline:
                raise StoreUnavailable(f"{self.url}: {self.prefix!r} is being migrated")
            else:
                await asyncio.sleep(0.05)

    async def _migrate_from_1(self) -> None:
        """Release 497264d's layout (format 1, or nothing yet): tasks and journal entries were
        JSON lists, the other records JSON objects without `v`."""
        client = self._redis
        for task_id in await client.lrange(self._key("order"), 0, -1):
            kept = await client.get(self._key("task", task_id))
            if kept is not None and isinstance(row := json.loads(kept), list):
                await client.set(self._key("task", task_id), json.dumps(legacy_task(row)))
        journal = self._key("journal")
        entries = await client.lrange(journal, 0, -1)
        for index, kept in enumerate(entries):
            if isinstance(row := json.loads(kept), list):
                await client.lset(journal, index, json.dumps(legacy_entry(row)))
        for webhook_id in await client.lrange(self._key("deliveries"), 0, -1):
            name = self._key("delivery", webhook_id)
            kept = await client.get(name)
            if kept is not None and "v" not in (record := json.loads(kept)):
                await client.set(name, dumps(record))
        for fault_id, kept in (await client.hgetall(self._key("faults"))).items():
            if "v" not in (record := json.loads(kept)):
                await client.hset(self._key("faults"), fault_id, dumps(record))
        if await client.exists(self._key("clock")):
            await client.hsetnx(self._key("clock"), "v", str(FORMAT))

    async def _stored_clock(self) -> ClockState | None:
        kept: dict[str, str] = await self._redis.hgetall(self._key("clock"))
        return clock_from({**kept, "v": int(kept["v"])}) if kept else None

    def _clock_fields(self, clock: Clock) -> dict[str, str]:
        speed = clock.speed if isinstance(clock, RealClock) else None
        return {
            "kind": clock.kind,
            "speed": "" if speed is None else _number(speed),
            "wall": _number(time.time()),
            "sim": _number(clock.now()),
        }

    @_on_io
    async def shared_time(self) -> float | None:
        kept = await self._send("HMGET", self._key("clock"), "kind", "sim")
        return float(kept[1]) if kept[0] == "virtual" and kept[1] else None

    @_on_io
    async def save_clock(self, clock: Clock) -> None:
        fields = self._clock_fields(clock)
        await self._run(
            "save_clock",
            [self._key("clock")],
            [fields["kind"], fields["speed"], fields["wall"], fields["sim"], FORMAT],
        )

    @_on_io
    async def clear(self) -> None:
        client = self._redis
        clock = self._key("clock")
        doomed = [key async for key in client.scan_iter(match=self._key("*")) if key != clock]
        for start in range(0, len(doomed), 500):
            await client.delete(*doomed[start : start + 500])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        self._clients.close()

    # -- tasks ----------------------------------------------------------------------------------

    @_on_io
    async def add_task(self, new: NewTask) -> AddResult:
        task, balance, max_concurrent = new.task, new.balance, new.max_concurrent
        answer = await self._run(
            "add_task",
            [],
            [
                self.prefix,
                task.id,
                task.owner,
                dumps(task_record(task)),
                _number(task.plan.ended),
                _number(task.price),
                _final(task),
                "" if balance is None else _number(balance),
                "" if max_concurrent is None else str(max_concurrent),
                _number(new.now),
                *self._end_owner(task),
            ],
        )
        if answer == "ok":
            return Added(task)
        if answer == "duplicate":
            kept = await self._send("GET", self._key("task", task.id))
            return Exists(_task_from(kept))
        return Refused(Refusal(answer))

    def _end_owner(self, task: Task) -> list[str]:
        """add_task's last arguments: a task with a callback URL is this process's to end."""
        if task.request.callback_url is None:
            return []
        return [self.root, self.token, str(int(self.lease * 1000))]

    @_on_io
    async def get_task(self, task_id: str) -> Task | None:
        row = await self._send("GET", self._key("task", task_id))
        return None if row is None else _task_from(row)

    @_on_io
    async def next_end(self, owner: str, now: float) -> float | None:
        kept = await self._run("account", [], [self.prefix, owner, _number(now)])
        return float(kept[4]) if kept and kept[4] else None

    @_on_io
    async def save_plan(self, task: Task) -> None:
        await self._run(
            "save_plan",
            [],
            [
                self.prefix,
                task.id,
                task.owner,
                dumps(task_record(task)),
                _number(task.plan.ended),
                _final(task),
            ],
        )

    @_on_io
    async def tasks(self) -> list[Task]:
        return await self._tasks()

    async def _tasks(self) -> list[Task]:
        client = self._redis
        ids = await client.lrange(self._key("order"), 0, -1)
        if not ids:
            return []
        rows = await client.mget([self._key("task", i) for i in ids])
        return [_task_from(row) for row in rows if row is not None]

    @_on_io
    async def count_tasks(self) -> int:
        count: int = await self._redis.llen(self._key("order"))
        return count

    # -- accounts -------------------------------------------------------------------------------

    @_on_io
    async def accounts(self, now: float) -> list[tuple[str, AccountView]]:
        listing = []
        for owner in await self._redis.lrange(self._key("accounts"), 0, -1):
            kept = await self._run("account", [], [self.prefix, owner, _number(now)])
            if not kept:
                continue
            credits = float(kept[0]) if kept[0] != "" else None
            used, reserved, running = float(kept[1]), float(kept[2]), int(kept[3])
            if running == 0:
                reserved = 0.0  # no float dust once nothing is reserved
            remaining = None if credits is None else round(credits - used - reserved, 6)
            view = AccountView(credits, round(used, 6), round(reserved, 6), remaining, running)
            listing.append((owner, view))
        return listing

    # -- rate limits ----------------------------------------------------------------------------

    @_on_io
    async def take_token(self, key: str, rate: float, size: float, now: float) -> float:
        wait = float(
            await self._run(
                "take_token",
                [self._key("bucket", key)],
                [_number(rate), _number(size), _number(now)],
            )
        )
        return float("inf") if wait < 0 else wait

    # -- faults ---------------------------------------------------------------------------------

    @_on_io
    async def add_fault(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault:
        client = self._redis
        fault = Fault(
            await client.incr(self._key("fault_ids")), scenario, operation, api_key, times
        )
        await client.hset(self._key("faults"), str(fault.id), dumps(fault_record(fault)))
        return fault

    @_on_io
    async def take_fault(self, operation: str, api_key: str) -> Fault | None:
        taken = await self._run("take_fault", [self._key("faults")], [operation, api_key])
        if not taken:
            return None
        fault = _fault_from(taken)
        if fault.remaining is not None:
            fault.remaining -= 1  # as the memory store's: what is left after this one
        return fault

    @_on_io
    async def faults(self) -> list[Fault]:
        kept = await self._redis.hgetall(self._key("faults"))
        return sorted((_fault_from(text) for text in kept.values()), key=lambda f: f.id)

    @_on_io
    async def remove_fault(self, fault_id: int) -> bool:
        removed: int = await self._redis.hdel(self._key("faults"), str(fault_id))
        return removed > 0

    @_on_io
    async def clear_faults(self) -> None:
        await self._redis.delete(self._key("faults"))

    # -- the journal ----------------------------------------------------------------------------

    @_on_io
    async def log_request(self, entry: Entry) -> None:
        await self._run(
            "log_request", [self._key("journal")], [dumps(entry_record(entry)), self.journal_limit]
        )

    @_on_io
    async def journal(self) -> list[Entry]:
        rows = await self._redis.lrange(self._key("journal"), 0, -1)
        return [entry_from(json.loads(row)) for row in rows]

    # -- callback deliveries --------------------------------------------------------------------

    @_on_io
    async def save_delivery(self, delivery: Delivery) -> bool:
        end = delivery.trigger == "end"
        saved = await self._run(
            "save_delivery",
            [],
            [
                self.prefix,
                self.root,
                self.token,
                int(self.lease * 1000),
                delivery.webhook_id,
                dumps(delivery_record(delivery)),
                "1" if delivery.outcome is Outcome.PENDING else "",
                delivery.task.id if end else "",
                self.delivery_limit,
            ],
        )
        return bool(saved)

    @_on_io
    async def take_over(self) -> TakenOver:
        # only once every live process has had a lease's length to renew its own: after this
        # store opened, and after Redis came back (its leases may have lapsed meanwhile)
        adopt = time.monotonic() - self._clients.calm_since >= self.lease
        rows, ends = await self._run(
            "take_over",
            [],
            [self.prefix, self.root, self.token, int(self.lease * 1000), "1" if adopt else ""],
        )
        if not rows and not ends:
            return NOTHING_TAKEN
        ids = list({json.loads(row)["task_id"] for row in rows} | set(ends))
        kept = await self._redis.mget([self._key("task", i) for i in ids])
        known = {i: _task_from(t) for i, t in zip(ids, kept, strict=True) if t}
        return TakenOver(
            self._decode_deliveries(rows, known.get), [known[i] for i in ends if i in known]
        )

    @staticmethod
    def _decode_deliveries(
        rows: list[str | None], task: Callable[[str], Task | None]
    ) -> list[Delivery]:
        found = (delivery_from(json.loads(row), task) for row in rows if row is not None)
        return [delivery for delivery in found if delivery is not None]

    @_on_io
    async def deliveries(self, task_id: str | None = None) -> list[Delivery]:
        every = await self._deliveries(await self._tasks())
        return [d for d in every if task_id is None or d.task.id == task_id]

    async def _deliveries(self, tasks: list[Task]) -> list[Delivery]:
        client = self._redis
        ids: list[str] = await client.lrange(self._key("deliveries"), 0, -1)
        if not ids:
            return []
        rows = await client.mget([self._key("delivery", w) for w in ids])
        return self._decode_deliveries(rows, {task.id: task for task in tasks}.get)
