"""The --config file: per-key profiles and moderation, and clear errors for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.cli.config import load_profiles
from mockserver.cli.main import build_parser, settings_from
from mockserver.domain.profiles import DEFAULT_BLOCKED_TERMS, ConfigError, KeyProfile

GOOD = """
[defaults]
credits = 100
rate = 5

[keys."sk-alice"]
credits = 20.5
burst = 2
max_concurrent = 1
models = []
scenario = "fail:content_policy_violation"

[moderation]
blocked_terms = { dragon = "third-party content violation" }
people_images = ["*/people/*"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mock.toml"
    path.write_text(text)
    return path


def test_a_key_inherits_the_defaults_it_does_not_set(tmp_path: Path) -> None:
    profiles = load_profiles(write(tmp_path, GOOD))

    assert profiles.for_key("sk-bob") == KeyProfile(credits=100, rate=5)
    assert profiles.for_key("sk-alice") == KeyProfile(
        credits=20.5,
        rate=5,
        burst=2,
        max_concurrent=1,
        models=(),
        scenario="fail:content_policy_violation",
    )
    assert profiles.moderation.blocked_terms == {"dragon": "third-party content violation"}
    assert profiles.moderation.people_images == ("*/people/*",)


def test_without_a_moderation_table_the_default_terms_apply(tmp_path: Path) -> None:
    assert (
        load_profiles(write(tmp_path, "[defaults]\ncredits = 1\n")).moderation.blocked_terms
        == DEFAULT_BLOCKED_TERMS
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults\n", "not valid TOML"),
        ("[nonsense]\n", "unknown section(s) nonsense"),
        ('[keys."k"]\ncredit = 5\n', 'keys."k": unknown field(s) credit'),
        ("[defaults]\ncredits = -1\n", "defaults.credits: must be >= 0"),
        ("[defaults]\nrate = 'fast'\n", "defaults.rate: expected a number"),
        ("[defaults]\nburst = 1.5\n", "defaults.burst: expected a whole number"),
        ("[defaults]\nmodels = 'sora'\n", "defaults.models: expected a list"),
        ("[defaults]\ncredits = nan\n", "defaults.credits: expected a number"),
        ("[moderation]\npeople_images = 'x'\n", "moderation.people_images"),
    ],
    ids=["syntax", "section", "field", "negative", "type", "fraction", "models", "nan", "images"],
)
def test_a_bad_file_is_a_config_error_naming_the_place(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_profiles(write(tmp_path, text))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_profiles(tmp_path / "absent.toml")


def test_serve_refuses_a_config_naming_an_unknown_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys."k"]\nscenario = "explode"\n')
    args = build_parser().parse_args(["serve", "--config", str(path)])

    with pytest.raises(SystemExit, match=r'keys."k"|k\.scenario: unknown scenario'):
        settings_from(args)


def test_serve_takes_the_config_and_prompt_markers(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["serve", "--config", str(write(tmp_path, GOOD)), "--prompt-markers"]
    )

    settings = settings_from(args)

    assert settings.prompt_markers is True
    assert settings.profiles.for_key("sk-alice").credits == 20.5
