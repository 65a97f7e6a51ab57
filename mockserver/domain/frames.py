"""Frame sizes of the videos a task renders: one table, checked against the spec's enums."""

from __future__ import annotations

#: (aspect_ratio, quality) -> (width, height)
FRAME_SIZES: dict[tuple[str, str], tuple[int, int]] = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
}
#: Video lengths in seconds (the spec's `duration` enum).
DURATIONS: frozenset[int] = frozenset({4, 8, 12})


def frame_size(aspect_ratio: str, quality: str) -> tuple[int, int]:
    """The (width, height) of a video: ``("16:9", "720p")`` -> ``(1280, 720)``."""
    try:
        return FRAME_SIZES[(aspect_ratio, quality)]
    except KeyError:
        raise ValueError(
            f"no video for aspect_ratio={aspect_ratio!r}, quality={quality!r}; "
            f"known: {sorted(FRAME_SIZES)}"
        ) from None
