"""The `--config` TOML file: read, parsed, and every mistake named with its place."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..domain.profiles import ConfigError, Profiles, profiles_from_dict


def load_profiles(path: Path) -> Profiles:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return profiles_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
