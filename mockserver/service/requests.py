"""A create body, checked against the spec's schema and the callback rules, with the documented
defaults filled in: the `VideoRequest` every later step works on; and the whole numbers a
listing's query string pages by."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from ..delivery.ssrf import CallbackPolicy, PolicyViolation, Resolver, check_at_submit
from ..domain.errors import InvalidRequest
from ..domain.models import Models
from ..domain.tasks import VideoRequest
from ..spec import FieldError, Spec

_MAX_LISTED_ERRORS = 5


def whole_number(
    raw: str | None, name: str, default: int, most: int | None = None, *, prefix: str = ""
) -> int:
    """A query parameter that is a whole number from 1 (to `most`), `default` when absent; else
    an `InvalidRequest` naming it, its message after `prefix` (the vendor routes' "Invalid
    request parameters: "). ASCII digits only: `int()` refuses some of what `str.isdigit()`
    takes (`'²'`)."""
    if raw is None:
        return default
    if (
        not (raw.isascii() and raw.isdigit())
        or int(raw) < 1
        or (most is not None and int(raw) > most)
    ):
        within = f"from 1 to {most}" if most is not None else "from 1"
        raise InvalidRequest(
            f"{prefix}{name} must be a whole number {within}, got {raw[:40]!r}", param=name
        )
    return int(raw)


def _encodes(body: dict[str, Any]) -> bool:
    """True if `body` encodes as JSON: then it has no lone surrogate (orjson refuses them)."""
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        return False
    return True


def _lone_surrogate(value: Any) -> str | None:
    """The dotted path of the first string that is not valid Unicode, if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ""
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        path = _lone_surrogate(item)
        if path is not None:
            return f"{key}.{path}" if path else str(key)
    return None


class RequestParser:
    def __init__(
        self, spec: Spec, policy: CallbackPolicy, resolver: Resolver, models: Models
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.resolver = resolver
        # Per served model, what an unset field takes (its data file's `[defaults]`: the page's
        # examples), and what a field its page does not declare always is: a body's value under
        # that name is not the model's field, and its page does not forbid unknown fields.
        self._defaults = {model.name: dict(model.defaults) for model in models}
        self._fixed = {model.name: dict(model.fixed) for model in models if model.fixed}
        missing = set(spec.models) - set(self._defaults)
        if missing:
            raise ValueError(f"the spec serves {', '.join(sorted(missing))}, with no data file")

    def parse(self, body: object) -> VideoRequest:
        """Check a create body against its model's schema; fill in that model's defaults."""
        errors = self.spec.request_errors(body)
        if self.policy.allow_http:
            errors = [e for e in errors if not self._is_https_only_error(e)]
        if errors:
            detail = "; ".join(str(e) for e in errors[:_MAX_LISTED_ERRORS])
            raise InvalidRequest(
                f"Invalid request parameters: {detail}", param=errors[0].field or None
            )
        assert isinstance(body, dict)
        bad = None if _encodes(body) else _lone_surrogate(body)
        if bad is not None:
            raise InvalidRequest(
                f"Invalid request parameters: {bad}: not valid Unicode (lone surrogate)", param=bad
            )
        model = body["model"]
        defaults = self._defaults[model]
        merged = {**defaults, **body}
        if None in merged.values():  # an explicit null takes the default
            merged = {**defaults, **{k: v for k, v in body.items() if v is not None}}
        if self._fixed:
            fixed = self._fixed.get(model)
            if fixed is not None:
                merged.update(fixed)
        # by position (a named tuple built from keywords costs 3x): the fields in their order
        return VideoRequest(
            # enum values, checked by the schema: every task shares one string for each
            sys.intern(model),  # model
            merged["prompt"],
            sys.intern(merged["aspect_ratio"]),
            int(merged["duration"]),
            sys.intern(merged["quality"]),
            tuple(merged.get("image_urls") or ()),
            # from the body only: the spec's example URL is no default to send callbacks to
            self._checked_callback_url(body.get("callback_url")),
        )

    def _is_https_only_error(self, error: FieldError) -> bool:
        """With --callback-allow-http, the policy judges the scheme, not the spec's pattern."""
        pattern = self.spec.request_property("callback_url").get("pattern")
        return (
            error.field == "callback_url"
            and pattern is not None
            and error.message.endswith(f'does not match "{pattern}"')
        )

    def _checked_callback_url(self, url: str | None) -> str | None:
        """The vendor's callback rules at submit; delivery checks again (DNS can change)."""
        if url is not None:
            try:
                check_at_submit(url, self.policy, self.resolver)
            except PolicyViolation as exc:
                raise InvalidRequest(
                    f"Invalid request parameters: callback_url: {exc.reason}", param="callback_url"
                ) from exc
        return url
