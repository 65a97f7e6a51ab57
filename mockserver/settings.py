"""What a simulator instance is configured with. The CLI builds one from flags.

Values are checked where they are used: the callback allow-list and secret when the delivery
engine is built (a `ValueError` naming the bad one), the rest here."""

from __future__ import annotations

from dataclasses import dataclass, field

from .domain.chaos import Chaos
from .domain.clock import ClockKind
from .domain.files import MAX_UPLOAD_BYTES
from .domain.models import Models, shipped_models
from .domain.pricing import Pricing
from .domain.profiles import Profiles
from .domain.recording import RecordedTask
from .domain.timing import VENDOR, Timings

#: A create body is a prompt of at most 5000 characters and two URLs; this leaves ample room
#: for escaping while refusing a huge body before it is read into memory.
MAX_BODY_BYTES = 256 * 1024
#: What the vendor's keys look like: `sk-` then letters, digits, `-` or `_`.
VENDOR_KEY_SHAPE = r"sk-[A-Za-z0-9_-]+"


@dataclass(frozen=True, slots=True)
class Settings:
    #: The accepted API keys; None accepts any key of `key_shape`.
    api_keys: frozenset[str] | None = None
    #: Without `api_keys`: the (regular expression) shape a key must have to be accepted, the
    #: vendor's `sk-...`, so that a wrong or made-up credential still gets the documented 401;
    #: None accepts any non-empty key.
    key_shape: str | None = VENDOR_KEY_SHAPE
    clock: ClockKind = "real"
    #: Real clock only: simulated seconds per real second.
    speed: float = 1.0
    #: Simulated unix time to start at; None starts at the current wall time.
    start_time: float | None = None
    #: How long tasks take (`mockserver.domain.timing`): the vendor's 3-5 minutes by default.
    timings: Timings = VENDOR
    #: Seeds every random choice (plans, ids, latencies): the same seed and requests give the
    #: same run. None draws from the OS.
    seed: int | None = None
    #: The served models (`mockserver.domain.models`): by default the shipped ones.
    models: Models = field(default_factory=shipped_models)
    #: A price table over one model's (`[pricing]` of `--config`; `pricing.model`, by default
    #: the first served); None: the models' own.
    pricing: Pricing | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    #: The largest file the files API takes (the vendor's 100 MB is more than a mock needs).
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    #: Per-key credits, limits, models and default scenarios; moderation rules.
    profiles: Profiles = field(default_factory=Profiles)
    #: Honour `[mock:SCENARIO]` markers in prompts, for clients whose headers can't be set.
    prompt_markers: bool = False
    #: Callback destinations exempt from the address checks, as `HOST[:PORT]` (local development).
    callback_allow: frozenset[str] = frozenset()
    #: Accept http:// callback URLs as well as https://.
    callback_allow_http: bool = False
    #: A PEM file of CA certificates to trust for callbacks, beside the system's.
    callback_ca_file: str | None = None
    #: `whsec_<base64>`: sign callbacks the Standard Webhooks way; None sends them unsigned.
    callback_secret: str | None = None
    #: Real seconds to wait for a receiver's answer (the vendor's 10). On the virtual clock a
    #: timed-out attempt still lasts 10 simulated seconds, so tests may wait far less.
    callback_timeout: float = 10.0
    #: Fetch and check each create's `image_urls` (under the callback address policy) as the
    #: vendor does; off by default, for offline use (`mockserver.delivery.images`).
    fetch_images: bool = False
    #: A SQLite file to keep tasks, the clock, callback deliveries, the journal and which keys
    #: have accounts in, so that a restart (even after `kill -9`) continues where it stopped;
    #: None keeps everything in memory only. See `mockserver.storage.sqlite`.
    db_path: str | None = None
    #: `redis://HOST:PORT/DB`: keep the state in Redis (`mockserver.storage.redis`), where
    #: several processes can share it; None keeps it in this process (or `db_path`).
    store_url: str | None = None
    #: Put every `/_mock/*` route but the health check, the result videos and the dashboard's
    #: static shell behind `Authorization: Bearer <admin_token>`; None leaves them open.
    admin_token: str | None = None
    #: Seeded chaos for every key whose profile sets none (`serve --chaos`).
    chaos: Chaos | None = None
    #: Each API key its own world: its own clock, faults, journal, callbacks, accounts and
    #: reset (`mockserver.service.worlds`). In memory only: not with `db_path`.
    isolate_keys: bool = False
    #: Recorded tasks (`serve --replay`): they come back on the simulator's clock, readable with
    #: any accepted key, and a create whose request matches one replays its lifecycle.
    replay: tuple[RecordedTask, ...] = ()
    #: Count answers, their latency and callback attempts for `GET /_mock/metrics`.
    metrics: bool = True

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        if self.api_keys is not None and not all(k.strip() for k in self.api_keys):
            raise ValueError("an API key must not be empty")
        if self.admin_token is not None and (
            not self.admin_token or any(c.isspace() for c in self.admin_token)
        ):
            raise ValueError("an admin token must be non-empty and contain no spaces")
        if self.store_url is not None and self.db_path is not None:
            raise ValueError("store_url and db_path are two stores: give one")
        if self.store_url is not None and not self.store_url.startswith(("redis://", "rediss://")):
            raise ValueError(f"store_url must be redis://HOST:PORT/DB, got {self.store_url!r}")
        if self.isolate_keys and self.db_path is not None:
            raise ValueError("isolate_keys keeps each key's world in memory: not with db_path")
        if not self.max_upload_bytes > 0:
            raise ValueError(f"max_upload_bytes must be > 0, got {self.max_upload_bytes}")
        if not self.callback_timeout > 0:
            raise ValueError(f"callback_timeout must be > 0, got {self.callback_timeout}")
