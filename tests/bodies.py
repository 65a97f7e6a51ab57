"""The create request body the tests send: the vendored spec's minimal valid one."""

from __future__ import annotations

from typing import Any

#: `model` and `prompt` are the spec's only required fields: its one model, its example prompt
MODEL = "sora-2-pro-preview"
PROMPT = "A cat playing piano"


def create_body(**overrides: Any) -> dict[str, Any]:
    """`{"model": MODEL, "prompt": PROMPT}`, with `overrides` replacing or adding fields."""
    return {"model": MODEL, "prompt": PROMPT, **overrides}
