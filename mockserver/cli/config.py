"""The `--config` TOML file and the `--timings` file: read, parsed, and every mistake named
with its place."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.pricing import Pricing, pricing_from_dict
from ..domain.profiles import ConfigError, Profiles, profiles_from_dict
from ..domain.timing import PROFILES, Timings, timings_from_dict

#: sections of `--config` read here rather than by the key profiles
_OWN_SECTIONS = ("timings", "pricing")


@dataclass(frozen=True, slots=True)
class Config:
    profiles: Profiles = field(default_factory=Profiles)
    #: None: whatever `--timings` (or its default) says
    timings: Timings | None = None
    pricing: Pricing = field(default_factory=Pricing)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_config(path: Path) -> Config:
    data = _read_toml(path)
    try:
        profiles = profiles_from_dict({k: v for k, v in data.items() if k not in _OWN_SECTIONS})
        timings = timings_from_dict(data["timings"]) if "timings" in data else None
        pricing = pricing_from_dict(data["pricing"]) if "pricing" in data else Pricing()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return Config(profiles, timings, pricing)


def load_profiles(path: Path) -> Profiles:
    return load_config(path).profiles


def load_timings(name_or_path: str) -> Timings:
    """A shipped profile by name (`vendor`, `fast`), or a TOML file of one (its fields at the
    top level, or under `[timings]`)."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        raise ConfigError(
            f"{name_or_path!r}: not a profile ({', '.join(PROFILES)}) nor a TOML file"
        )
    data = _read_toml(path)
    try:
        return timings_from_dict(data.get("timings", data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
