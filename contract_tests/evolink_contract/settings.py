"""What every run of the harness shares: the keys it uses and its schemathesis settings."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import schemathesis
from schemathesis.generation.stateful.state_machine import DEFAULT_STATE_MACHINE_SETTINGS

CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
#: The key that creates tasks, and a second accepted key that must not be able to read them.
OWNER = "sk-contract-owner"
STRANGER = "sk-contract-stranger"


def schemathesis_config(
    key: str, *, max_examples: int | None = None, seed: int | None = None, shrink: bool = True
) -> schemathesis.Config:
    """The shared settings file, plus this run's bearer key (and overrides; `shrink=False`
    reports a failing case as found, for a run that only asks which checks fail)."""
    text = CONFIG_FILE.read_text()
    text += f'\n[auth.openapi.bearerAuth]\nbearer = "{key}"\n'
    if seed is not None:
        text = f"seed = {seed}\n" + text
    if max_examples is not None:
        text = text.replace("max-examples = 60", f"max-examples = {max_examples}")
    if not shrink:
        text = text.replace("[generation]\n", "[generation]\nno-shrink = true\n", 1)
    return schemathesis.Config.from_str(text)


def stateful_settings(config: schemathesis.config.ProjectConfig) -> hypothesis.settings:
    """A state machine's Hypothesis settings: schemathesis's own for its pytest runs, with the
    run's length from the config (`max-examples` scenarios of at most `max-steps` calls), as
    `schemathesis run` reads it. A state machine's `run()` alone takes 100 scenarios of 6
    steps, whatever the config (or `--max-examples`) says. (The config's seed is not applied:
    as before, a stateful run is not replayed by `--seed`.)"""
    examples = config.generation_for(phase="stateful").max_examples
    return hypothesis.settings(
        DEFAULT_STATE_MACHINE_SETTINGS,
        max_examples=DEFAULT_STATE_MACHINE_SETTINGS.max_examples if examples is None else examples,
        stateful_step_count=config.phases.stateful.max_steps,
    )
