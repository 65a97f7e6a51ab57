"""The state in Redis (`--store redis://HOST:PORT/DB`): the store several simulator processes
can share.


Every key starts with the store's prefix (`evolink-mock` by default), so that one Redis keeps
several mocks apart. Each check-and-change that two processes could race on is one Lua script,
run atomically by Redis: a task kept against its key's concurrency cap and credits (with the
settlement of what has ended, and the binding of its idempotency key), a token taken from a
bucket, a `times: N` fault used up, a callback delivery claimed or taken over.

Connections: each event loop that calls the store (the server's, a test's) has a client and a
pool of its own, and the call runs there. The commands that calls on one loop send while a
batch is on its way to Redis go together in the next: one round trip for many requests' steps,
each command still on its own (`link.Link`).

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
| `P:owned:KEY`, `P:owned_index` | each key's task ids, oldest first; set once indexed so |
| `P:handled` | ids of tasks whose end delivery a process has saved (the one that sends it) |
| `P:accounts` | keys with an account, in the order they were opened |
| `P:acct:KEY` | an account: `credits` (empty: unlimited), `used` |
| `P:run:KEY` | the key's reserved tasks, scored by when each ends |
| `P:price`, `P:final` | each task's price, and how it ends (`c` completed, `f` failed) |
| `P:claims:KEY` | the key's bound idempotency keys, each a claim's record (with its task id) |
| `P:bucket:KEY` | a token bucket: `tokens`, `at` |
| `P:faults`, `P:fault_ids` | admin faults (records by id), and their id counter |
| `P:journal` | the request journal (records), capped |
| `P:delivery:WEBHOOK_ID`, `P:deliveries` | callback deliveries (records), and their ids in order |
| `P:owner`, `P:pending:TOKEN` | the process sending each delivery, and each one's pending ones |
| `P:end_owner`, `P:ends:TOKEN` | the process to end each task with a callback URL (its creator) |
| `P:procs` | the processes that own something here: looked at for a lapsed lease |
| `R:alive:TOKEN` | a process's lease (`R`: the root prefix), lapsing `lease` s after renewal |
| `P:clock` | the clock: `v`, `kind`, `speed`, `wall`, `sim` |
| `P:files`, `P:file_bytes` | uploaded files (records by id), and their bytes (base64, by id) |
| `P:file_ends`, `P:files_of:KEY` | every file's id, and the key's, scored by when each expires |

Every JSON record carries `v`, its format. Opening a prefix that release 497264d wrote (no
`P:format`: tasks and journal entries as lists) rewrites its records to this format first, one
process at a time (`P:migrating`); stop the replicas of that release before starting this one.
A prefix written before `P:owned:KEY` existed is then indexed by owner, in one step
(`lua/index_owners.lua`).

Modules: `store` (the `Store` methods), `deliveries` (the callback deliveries' methods), `files`
(the uploaded files' methods), `core` (what they share), `link` (the batching way to Redis),
`scripts` (the Lua scripts in `lua/`, called with named keys and arguments), `migrate` (an older
release's records).
"""

from .link import MAX_BATCH, MAX_CONNECTIONS, POOL_WAIT, SOCKET_TIMEOUT
from .migrate import MIGRATION_WAIT
from .store import LEASE, RedisStore

__all__ = [
    "LEASE",
    "MAX_BATCH",
    "MAX_CONNECTIONS",
    "MIGRATION_WAIT",
    "POOL_WAIT",
    "SOCKET_TIMEOUT",
    "RedisStore",
]
