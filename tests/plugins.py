"""Arguments for a pytest run of a user's project in a subprocess (the plugin's, the docs'
snippets', the examples'): without the two plugins whose imports take most of a pytest start-up
here (schemathesis and Hypothesis, about 3 s of 4 on a 2-core machine), unless the project's code
uses them."""

from __future__ import annotations


def lean(code: str) -> list[str]:
    """`-p no:NAME` for each of the two plugins `code` does not use (schemathesis needs
    Hypothesis's)."""
    if "schemathesis" in code:
        return []
    args = ["-p", "no:schemathesis"]
    if "hypothesis" not in code:
        args += ["-p", "no:hypothesispytest"]
    return args
