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
_OWN_SECTIONS = ("timings", "pricing", "models")


@dataclass(frozen=True, slots=True)
class Config:
    profiles: Profiles = field(default_factory=Profiles)
    #: None: whatever `--timings` (or its default) says
    timings: Timings | None = None
    #: None: the models' own prices
    pricing: Pricing | None = None
    #: `[models] serve`: the models to serve (None: every one found)
    serve: tuple[str, ...] | None = None
    #: `[models] dirs`: more folders of model files, relative to the config file
    model_dirs: tuple[Path, ...] = ()


def _models(path: Path, data: Any) -> tuple[tuple[str, ...] | None, tuple[Path, ...]]:
    """`[models]`: `serve = ["sora-2-preview", ...]` and `dirs = ["folder", ...]`."""
    if not isinstance(data, dict) or set(data) - {"serve", "dirs"}:
        raise ConfigError("models: expected a table with serve and/or dirs")
    serve = data.get("serve")
    if serve is not None and (
        not isinstance(serve, list) or not serve or not all(isinstance(m, str) for m in serve)
    ):
        raise ConfigError("models.serve: expected a list of model names")
    dirs = data.get("dirs", [])
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise ConfigError("models.dirs: expected a list of folders")
    return (None if serve is None else tuple(serve)), tuple(path.parent / d for d in dirs)


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
        pricing = pricing_from_dict(data["pricing"]) if "pricing" in data else None
        serve, dirs = _models(path, data["models"]) if "models" in data else (None, ())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return Config(profiles, timings, pricing, serve, dirs)


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
