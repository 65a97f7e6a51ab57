"""The README's promises: its example runs, its commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_the_python_example_runs() -> None:
    example = blocks("python")[0]  # the others are sketches; examples/ holds their runnable forms
    exec(compile(example, "README.md", "exec"), {"__name__": "readme"})


def test_ci_runs_the_readmes_test_command() -> None:
    test_command = blocks("sh")[1].strip()
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_readme_opens_with_serve_then_test() -> None:
    first, second = blocks("sh")[:2]
    assert "evolink-mock serve" in first
    assert "pytest" in second
