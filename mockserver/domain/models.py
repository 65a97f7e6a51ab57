"""Models as data: what each served model costs, renders and accepts, read from its data file.

Every model the mock serves is its vendored create page and a small TOML file beside it
(`openapi/models/<model>.toml`; the format in `docs/models.md`): its price table and billing
rule, its frame sizes by quality and aspect ratio, its durations and defaults, how its reference
images are checked, how its timing relates to the timing profile, and what its tasks call
themselves (`object`, `type`). Nothing here names a model: a new one is a data change. The files
are read and checked once, at start (`models_from`); a create looks its model up in a dict.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..spec import ModelFileError, ModelSource, Spec, build_spec, read_models, spec_dir
from .pricing import Pricing, pricing_from_dict
from .profiles import ConfigError
from .tasks import Plan, Task, VideoRequest

#: The fields of a `VideoRequest` a model's defaults must give (where its page has no default).
CHOICES = ("aspect_ratio", "duration", "quality")
#: How a reference image must match the frame: its shape within 2 %, or its pixels exactly.
IMAGE_MATCHES = ("ratio", "exact")
#: The task `type` values the pages' schema allows.
TYPES = ("text", "image", "audio", "video")
_FIELDS = {
    "model",
    "page",
    "object",
    "type",
    "billing_rule",
    "durations",
    "defaults",
    "prices",
    "frames",
    "images",
    "timing",
}
_SIZE = re.compile(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One served model, as its data file gives it."""

    name: str
    #: the data file, for messages
    file: Path
    object: str
    type: str
    billing_rule: str
    durations: tuple[int, ...]
    #: what an unset field the model's page declares takes
    defaults: Mapping[str, Any]
    #: what a field the page does not declare always is, whatever a body sends under its name
    fixed: Mapping[str, Any]
    pricing: Pricing
    #: (aspect_ratio, quality) -> (width, height)
    frames: Mapping[tuple[str, str], tuple[int, int]]
    image_match: str = "ratio"
    #: the model's processing time over the timing profile's
    timing_scale: float = 1.0
    #: the timing profile's row (a quality) the model's tasks take; None: their own quality
    timing_quality: str | None = None
    #: a folder of the model's own result videos, looked in before the bundled ones
    videos: Path | None = None

    def frame_size(self, aspect_ratio: str, quality: str) -> tuple[int, int]:
        """The (width, height) of a video of this model."""
        try:
            return self.frames[(aspect_ratio, quality)]
        except KeyError:
            raise ValueError(
                f"{self.name}: no frame for aspect_ratio={aspect_ratio!r}, quality={quality!r}; "
                f"known: {sorted(self.frames)}"
            ) from None

    def video_name(self, aspect_ratio: str, quality: str, duration: int) -> str:
        """The result video's file name, e.g. ``1280x720-8s.mp4``."""
        return _video_name(self.frame_size(aspect_ratio, quality), duration)

    def video_names(self) -> Iterator[tuple[str, str]]:
        """Every result video the model can need, with the field of the file that asks for it."""
        for (aspect_ratio, quality), size in self.frames.items():
            for duration in self.durations:
                yield f'frames."{quality}"."{aspect_ratio}"', _video_name(size, duration)

    def credits(self, request: VideoRequest) -> float:
        return self.pricing.credits(request)

    def task(
        self,
        task_id: str,
        owner: str,
        request: VideoRequest,
        plan: Plan,
        base_url: str,
        callback_scenario: str | None = None,
    ) -> Task:
        """A task of this model: priced for `request`, with the model's billing rule, `object`
        and `type`."""
        return Task(
            task_id,
            owner,
            request,
            plan,
            self.credits(request),
            base_url,
            callback_scenario,
            self.billing_rule,
            self.object,
            self.type,
        )


def _video_name(size: tuple[int, int], duration: int) -> str:
    width, height = size
    return f"{width}x{height}-{duration}s.mp4"


@dataclass(frozen=True, slots=True)
class Models:
    """The served models by name (the base page's first), and the spec that serves them."""

    profiles: Mapping[str, ModelProfile]
    spec: Spec = field(compare=False, repr=False)

    def __getitem__(self, name: str) -> ModelProfile:
        return self.profiles[name]

    def __iter__(self) -> Iterator[ModelProfile]:
        return iter(self.profiles.values())

    def __len__(self) -> int:
        return len(self.profiles)

    def get(self, name: str) -> ModelProfile | None:
        return self.profiles.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.profiles)

    @property
    def first(self) -> ModelProfile:
        return next(iter(self.profiles.values()))

    def priced(self, pricing: Pricing) -> Models:
        """These models, one price table changed: the `[pricing]` section of `--config`, for
        the model it names (`pricing.model`), by default the first (the seed's page's)."""
        name = pricing.model or self.first.name
        profile = self.profiles.get(name)
        if profile is None:
            raise ConfigError(f"pricing.model: {name!r} is not served; one of {self.names}")
        changed = profile.pricing.overridden(dict(pricing.table), pricing.source)
        return replace(self, profiles={**self.profiles, name: replace(profile, pricing=changed)})


def _where(source: ModelSource, field_name: str, why: str) -> ModelFileError:
    return ModelFileError(source.profile, field_name, why)


def _string(source: ModelSource, name: str, allowed: Collection[str] | None = None) -> str:
    value = source.data.get(name)
    if not isinstance(value, str) or not value:
        raise _where(source, name, "expected a string")
    if allowed is not None and value not in allowed:
        raise _where(source, name, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _choices(source: ModelSource, name: str, defaults: Mapping[str, Any]) -> list[Any]:
    """The values a request field can take: its page's enum, or its one default."""
    prop = source.request.get("properties", {}).get(name)
    if prop is not None and "enum" in prop:
        return list(prop["enum"])
    if name == "duration":
        return list(source.data["durations"])
    return [defaults[name]]


def _defaults(source: ModelSource) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's defaults, split: for fields its page declares, for fields it does not."""
    table = source.data.get("defaults", {})
    if not isinstance(table, dict):
        raise _where(source, "defaults", "expected a table of field = value")
    properties = source.request.get("properties", {})
    for name in CHOICES:
        if name not in table:
            raise _where(source, f"defaults.{name}", "missing: every task needs one")
    unknown = set(table) - set(CHOICES)
    if unknown:
        raise _where(source, "defaults", f"unknown field(s) {', '.join(sorted(unknown))}")
    declared = {name: value for name, value in table.items() if name in properties}
    fixed = {name: value for name, value in table.items() if name not in properties}
    for name, value in declared.items():
        allowed = _choices(source, name, table)
        if value not in allowed:
            raise _where(source, f"defaults.{name}", f"{value!r} is not one of {allowed}")
    return declared, fixed


def _pricing(source: ModelSource, qualities: list[Any], durations: list[int]) -> Pricing:
    table = source.data.get("prices")
    if not isinstance(table, dict):
        raise _where(source, "prices", 'missing: expected [prices] with "QUALITY" = {4 = ...}')
    try:
        pricing = pricing_from_dict(table, Pricing({}), where="prices")
    except ConfigError as exc:
        raise ModelFileError(source.profile, "", str(exc)) from None
    for quality in qualities:
        for duration in durations:
            if (duration, quality) not in pricing.table:
                raise _where(source, f'prices."{quality}".{duration}', "missing price")
    return pricing


def _frames(
    source: ModelSource, qualities: list[Any], ratios: list[Any]
) -> dict[tuple[str, str], tuple[int, int]]:
    table = source.data.get("frames")
    if not isinstance(table, dict):
        raise _where(source, "frames", 'missing: expected [frames] with "QUALITY" = {...}')
    frames: dict[tuple[str, str], tuple[int, int]] = {}
    for quality, sizes in table.items():
        if not isinstance(sizes, dict):
            raise _where(source, f'frames."{quality}"', 'expected {"ASPECT_RATIO" = "WxH"}')
        for ratio, size in sizes.items():
            match = _SIZE.fullmatch(size) if isinstance(size, str) else None
            if match is None:
                raise _where(source, f'frames."{quality}"."{ratio}"', 'expected "WxH"')
            frames[(ratio, quality)] = (int(match[1]), int(match[2]))
    for quality in qualities:
        for ratio in ratios:
            if (ratio, quality) not in frames:
                raise _where(source, f'frames."{quality}"."{ratio}"', "missing frame size")
    return frames


def _number(source: ModelSource, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _where(source, where, f"expected a number, got {value!r}")
    if value <= 0:
        raise _where(source, where, f"must be > 0, got {value!r}")
    return float(value)


def profile_from(source: ModelSource) -> ModelProfile:
    """A model's profile from its data file, every field checked; a mistake is a
    `ModelFileError` naming the file and the field."""
    unknown = set(source.data) - _FIELDS
    if unknown:
        raise _where(
            source,
            ", ".join(sorted(unknown)),
            f"unknown field(s); known: {', '.join(sorted(_FIELDS))}",
        )
    declared, fixed = _defaults(source)
    merged = {**declared, **fixed}
    qualities = _choices(source, "quality", merged)
    ratios = _choices(source, "aspect_ratio", merged)
    durations = list(source.data["durations"])
    images = source.data.get("images", {})
    timing = source.data.get("timing", {})
    if not isinstance(images, dict) or set(images) - {"match"}:
        raise _where(source, "images", f"expected a table with match ({'|'.join(IMAGE_MATCHES)})")
    if not isinstance(timing, dict) or set(timing) - {"scale", "quality"}:
        raise _where(source, "timing", "expected a table with scale (and quality)")
    match = images.get("match", "ratio")
    if match not in IMAGE_MATCHES:
        raise _where(source, "images.match", f"expected one of {', '.join(IMAGE_MATCHES)}")
    timing_quality = timing.get("quality")
    if timing_quality is not None and not isinstance(timing_quality, str):
        raise _where(source, "timing.quality", "expected a quality of the timing profile")
    videos = source.profile.parent / "videos"
    return ModelProfile(
        name=source.name,
        file=source.profile,
        object=_string(source, "object"),
        type=_string(source, "type", TYPES),
        billing_rule=_string(source, "billing_rule", _billing_rules(source)),
        durations=tuple(durations),
        defaults=declared,
        fixed=fixed,
        pricing=_pricing(source, qualities, durations),
        frames=_frames(source, qualities, ratios),
        image_match=match,
        timing_scale=_number(source, "timing.scale", timing.get("scale", 1.0)),
        timing_quality=timing_quality,
        videos=videos if videos.is_dir() else None,
    )


def check_timings(models: Models, per_video_second: Collection[str], profile: str) -> None:
    """Refuse a model whose tasks would need a row the timing profile lacks (`[timing]
    quality`, or else each quality of its frames), before a create could meet it."""
    for model in models:
        rows = {model.timing_quality} if model.timing_quality else {q for _, q in model.frames}
        for row in sorted(rows - set(per_video_second)):
            field_name = "timing.quality" if model.timing_quality else "timing"
            raise ModelFileError(
                model.file,
                field_name,
                f"the timing profile {profile!r} has no per_video_second row {row!r} "
                f"(it has {', '.join(per_video_second)}): set [timing] quality to one of them",
            )


def _billing_rules(source: ModelSource) -> list[str]:
    """What the page's `usage.billing_rule` allows (per_call, per_token, per_second)."""
    schemas = source.document["components"]["schemas"]
    rule = schemas.get("VideoUsage", {}).get("properties", {}).get("billing_rule", {})
    return list(rule.get("enum", ("per_call", "per_token", "per_second")))


def models_from(sources: Sequence[ModelSource], spec: Spec | None = None) -> Models:
    """The models of these files, every one checked, and the spec serving them."""
    profiles = {source.name: profile_from(source) for source in sources}
    return Models(profiles, spec if spec is not None else build_spec(sources))


def load_models(folders: Sequence[Path] = (), only: Collection[str] | None = None) -> Models:
    """The shipped models and those of `folders` (each a folder of `<model>.toml` files and the
    pages they name); with `only`, just the models named."""
    return models_from(read_models([spec_dir() / "models", *folders], only))


@functools.cache
def shipped_models() -> Models:
    """The models this release ships, with the cached spec (`load_spec()`)."""
    from ..spec import load_spec

    spec = load_spec()
    return models_from(spec.sources, spec)
