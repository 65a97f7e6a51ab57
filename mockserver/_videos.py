"""The small MP4 files the simulator serves as task results."""

from __future__ import annotations

from pathlib import Path

VIDEO_DIR: Path = Path(__file__).with_name("videos")

_FRAME_SIZES: dict[tuple[str, str], tuple[int, int]] = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
}
_DURATIONS: frozenset[int] = frozenset({4, 8, 12})


def frame_size(aspect_ratio: str, quality: str) -> tuple[int, int]:
    """The (width, height) of a video: ``("16:9", "720p")`` -> ``(1280, 720)``."""
    try:
        return _FRAME_SIZES[(aspect_ratio, quality)]
    except KeyError:
        raise ValueError(
            f"no video for aspect_ratio={aspect_ratio!r}, quality={quality!r}; "
            f"known: {sorted(_FRAME_SIZES)}"
        ) from None


def video_path(aspect_ratio: str, quality: str, duration: int) -> Path:
    """The bundled MP4 for a request, e.g. ``videos/1920x1080-8s.mp4``."""
    width, height = frame_size(aspect_ratio, quality)
    if type(duration) is not int or duration not in _DURATIONS:
        raise ValueError(f"no video for duration={duration!r}; known: {sorted(_DURATIONS)}")
    return VIDEO_DIR / f"{width}x{height}-{duration}s.mp4"
