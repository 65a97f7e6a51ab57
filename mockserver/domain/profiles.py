"""Per-key behaviour: credits, rate limit, concurrency cap, allowed models, default scenario,
how many uploaded files it may keep.

Profiles come from the `--config` TOML file (read by `mockserver.cli.config`): `[defaults]` for
every key, `[keys."KEY"]` for one key (its fields fall back to `[defaults]`), `[moderation]` for
what moderation blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .chaos import Chaos, ChaosError, parse_chaos
from .files import DEFAULT_MAX_FILES

#: Terms that fail a task's moderation, to the reason the vendor's moderation gives (worded for
#: a prompt: "celebrity detected in image" is the vendor's for an uploaded image).
DEFAULT_BLOCKED_TERMS: Mapping[str, str] = {
    "nude": "nudity detected",
    "nudity": "nudity detected",
    "gore": "violence content blocked",
    "beheading": "violence content blocked",
    "celebrity": "celebrity likeness detected",
}


class ConfigError(ValueError):
    """A configuration file that cannot be used, saying where and why."""


@dataclass(frozen=True, slots=True)
class KeyProfile:
    #: Credits the key starts with; None is unlimited.
    credits: float | None = None
    #: Requests per second the key's token bucket refills at; None is unlimited.
    rate: float | None = None
    #: The bucket's size; defaults to max(1, rate).
    burst: int | None = None
    #: Tasks of the key that may be pending or processing at once; None is unlimited.
    max_concurrent: int | None = None
    #: Models the key may use; None is all.
    models: tuple[str, ...] | None = None
    #: A scenario applied to the key's requests when nothing more specific names one.
    scenario: str | None = None
    #: Seeded chaos for the key's requests (over `serve --chaos`).
    chaos: Chaos | None = None
    #: Uploaded files (the files API) the key may keep at once.
    max_files: int = DEFAULT_MAX_FILES

    @property
    def bucket_size(self) -> float:
        if self.burst is not None:
            return float(self.burst)
        return max(1.0, self.rate or 1.0)


@dataclass(frozen=True, slots=True)
class Moderation:
    blocked_terms: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_BLOCKED_TERMS))
    #: Glob patterns (fnmatch) of image URLs that show real people.
    people_images: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Profiles:
    default: KeyProfile = field(default_factory=KeyProfile)
    keys: Mapping[str, KeyProfile] = field(default_factory=dict)
    moderation: Moderation = field(default_factory=Moderation)

    def for_key(self, key: str) -> KeyProfile:
        return self.keys.get(key, self.default)


_FIELDS = {f.name for f in fields(KeyProfile)}


def _number(where: str, name: str, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}.{name}: expected a number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where}.{name}: must be >= 0, got {value!r}")
    if integer and value != int(value):
        raise ConfigError(f"{where}.{name}: expected a whole number, got {value!r}")
    return int(value) if integer else float(value)


def _profile(where: str, data: Any, base: KeyProfile) -> KeyProfile:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(data) - _FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_FIELDS))}"
        )
    changes: dict[str, Any] = {}
    for name in ("credits", "rate"):
        if name in data:
            changes[name] = _number(where, name, data[name])
    for name in ("burst", "max_concurrent", "max_files"):
        if name in data:
            changes[name] = _number(where, name, data[name], integer=True)
    if "models" in data:
        models = data["models"]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{where}.models: expected a list of model names")
        changes["models"] = tuple(models)
    if "chaos" in data:
        if not isinstance(data["chaos"], str):
            raise ConfigError(f'{where}.chaos: expected "rate=R,scenarios=A|B[,seed=N]"')
        try:
            changes["chaos"] = parse_chaos(data["chaos"]) if data["chaos"] else None
        except ChaosError as exc:
            raise ConfigError(f"{where}.chaos: {exc}") from None
    if "scenario" in data:
        if not isinstance(data["scenario"], str):
            raise ConfigError(f"{where}.scenario: expected a scenario name")
        changes["scenario"] = data["scenario"] or None
    return replace(base, **changes)


def _moderation(data: Any) -> Moderation:
    if not isinstance(data, dict) or set(data) - {"blocked_terms", "people_images"}:
        raise ConfigError("moderation: expected a table with blocked_terms and/or people_images")
    terms = data.get("blocked_terms", DEFAULT_BLOCKED_TERMS)
    if isinstance(terms, list):
        terms = dict.fromkeys(terms, "content policy violation")
    if not isinstance(terms, dict) or not all(isinstance(v, str) for v in terms.values()):
        raise ConfigError("moderation.blocked_terms: a list of terms, or a table of term = message")
    images = data.get("people_images", [])
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise ConfigError("moderation.people_images: expected a list of URL glob patterns")
    return Moderation({k.lower(): v for k, v in terms.items()}, tuple(images))


def profiles_from_dict(data: Mapping[str, Any]) -> Profiles:
    unknown = set(data) - {"defaults", "keys", "moderation"}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(sorted(unknown))}; "
            "known: defaults, keys, models, moderation, pricing, timings"
        )
    default = _profile("defaults", data.get("defaults", {}), KeyProfile())
    keys_table = data.get("keys", {})
    if not isinstance(keys_table, dict):
        raise ConfigError('keys: expected tables of [keys."KEY"]')
    keys = {key: _profile(f'keys."{key}"', value, default) for key, value in keys_table.items()}
    moderation = _moderation(data["moderation"]) if "moderation" in data else Moderation()
    return Profiles(default, keys, moderation)
