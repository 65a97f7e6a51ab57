"""Frame sizes of the videos a task renders: one table, checked against the spec's enums.

Sora 2 Pro renders 1280x720, 720x1280, 1792x1024 and 1024x1792 (evolink.ai/sora-2-pro, read
2026-12): `quality: 1080p` is the 1792x1024 pair, there is no 1920x1080.
"""

from __future__ import annotations

#: (aspect_ratio, quality) -> (width, height)
FRAME_SIZES: dict[tuple[str, str], tuple[int, int]] = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1792, 1024),
    ("9:16", "1080p"): (1024, 1792),
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
