"""The bundled result videos: one small, real MP4 per frame size and duration of a shipped
model (each model's `[frames]`), and the frame sizes the shipped models' data files give."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from mockserver.domain.models import shipped_models
from mockserver.web.vendor import VIDEO_DIR, video_path

from ..mp4probe import Mp4Info, probe

MODELS = shipped_models()
PRO, PREVIEW = MODELS["sora-2-pro-preview"], MODELS["sora-2-preview"]
# the vendor's (evolink.ai/sora-2-pro, the sora-2-preview page), typed out: the data files must
# not drift from them
FRAME_SIZES = [
    ("sora-2-pro-preview", "16:9", "720p", (1280, 720)),
    ("sora-2-pro-preview", "9:16", "720p", (720, 1280)),
    ("sora-2-pro-preview", "16:9", "1080p", (1792, 1024)),
    ("sora-2-pro-preview", "9:16", "1080p", (1024, 1792)),
    ("sora-2-preview", "16:9", "720p", (1280, 720)),
    ("sora-2-preview", "9:16", "720p", (720, 1280)),
    ("sora-2-preview", "1280x720", "720p", (1280, 720)),
    ("sora-2-preview", "720x1280", "720p", (720, 1280)),
]
VIDEOS = [(m, ar, q, d, w, h) for m, ar, q, (w, h) in FRAME_SIZES for d in (4, 8, 12)]
VIDEO_IDS = [f"{m}-{ar}-{q}-{d}s" for m, ar, q, d, _, _ in VIDEOS]
MAX_BYTES = 64 * 1024


def test_the_frame_tables_are_exactly_the_vendors() -> None:
    found = {
        (model.name, ratio, quality, size)
        for model in MODELS
        for (ratio, quality), size in model.frames.items()
    }
    assert found == set(FRAME_SIZES)


@pytest.mark.parametrize(
    ("model", "aspect_ratio", "quality", "duration", "width", "height"), VIDEOS, ids=VIDEO_IDS
)
def test_video_file(
    model: str, aspect_ratio: str, quality: str, duration: int, width: int, height: int
) -> None:
    path = video_path(MODELS[model], aspect_ratio, quality, duration)
    assert path == VIDEO_DIR / f"{width}x{height}-{duration}s.mp4"
    assert path.is_file()
    data = path.read_bytes()
    assert len(data) < MAX_BYTES
    info = probe(data)
    assert (info.width, info.height) == (width, height)
    assert info.duration == pytest.approx(duration, abs=0.05)
    assert info.major_brand == "isom"


def test_no_stray_files() -> None:
    expected = {video_path(MODELS[m], ar, q, d).name for m, ar, q, d, _, _ in VIDEOS}
    assert {p.name for p in VIDEO_DIR.iterdir()} == expected


@pytest.mark.parametrize(
    ("model", "aspect_ratio", "quality"),
    [
        ("sora-2-pro-preview", "4:3", "720p"),
        ("sora-2-pro-preview", "16:9", "480p"),
        ("sora-2-pro-preview", "1280x720", "720p"),  # sora-2-preview's, not the Pro's
        ("sora-2-preview", "16:9", "1080p"),  # the page has no quality: 720p only
        ("sora-2-preview", "", ""),
    ],
    ids=["aspect-ratio", "quality", "other-models-ratio", "other-models-quality", "empty"],
)
def test_unknown_combination(model: str, aspect_ratio: str, quality: str) -> None:
    with pytest.raises(ValueError, match="no frame for"):
        video_path(MODELS[model], aspect_ratio, quality, 4)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _mp4(version: int) -> bytes:
    """A minimal MP4: an audio track, then a 640x360 video track, 2.5 s long; no samples."""
    if version == 1:
        mvhd = struct.pack(">B3xQQIQ", 1, 0, 0, 1000, 2500) + bytes(80)
        tkhd = struct.pack(">B3xQQI4xQ8x4x4x36x", 1, 0, 0, 1, 2500)
    else:
        mvhd = struct.pack(">B3xIIII", 0, 0, 0, 600, 1500) + bytes(80)
        tkhd = struct.pack(">B3xIII4xI8x4x4x36x", 0, 0, 0, 1, 1500)

    def trak(handler: bytes, width: int, height: int) -> bytes:
        hdlr = _box(b"hdlr", struct.pack(">4x4x4s12x", handler) + b"\0")
        size = struct.pack(">II", width << 16, height << 16)
        return _box(b"trak", _box(b"tkhd", tkhd + size) + _box(b"mdia", hdlr))

    moov = _box(b"mvhd", mvhd) + trak(b"soun", 0, 0) + trak(b"vide", 640, 360)
    ftyp = _box(b"ftyp", b"mp42" + bytes(4) + b"mp42isom")
    return ftyp + _box(b"moov", moov) + _box(b"mdat", bytes(16))


@pytest.mark.parametrize("version", [0, 1], ids=["v0", "v1"])
def test_probe_box_versions(version: int) -> None:
    assert probe(_mp4(version)) == Mp4Info(640, 360, 2.5, "mp42")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an mp4 file at all",
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        _box(b"moov", b""),
        _box(b"ftyp", b"isom"),
        _box(b"ftyp", b"isom") + _box(b"moov", b""),
        _box(b"ftyp", b"is"),
        struct.pack(">I4s", 4, b"ftyp"),
        struct.pack(">I4sQ", 1, b"ftyp", 3) + b"isom",
    ],
    ids=[
        "empty",
        "text",
        "png",
        "no-ftyp",
        "no-moov",
        "empty-moov",
        "short-ftyp",
        "tiny-box",
        "bad-largesize",
    ],
)
def test_probe_rejects_non_mp4(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a valid MP4"):
        probe(data)


@pytest.mark.parametrize("version", [0, 1], ids=["v0", "v1"])
def test_probe_rejects_every_truncation_of_a_header(version: int) -> None:
    data = _mp4(version)
    for cut in range(len(data)):
        with pytest.raises(ValueError, match="not a valid MP4"):
            probe(data[:cut])


def test_probe_rejects_every_truncation_of_a_video() -> None:
    data = video_path(PRO, "9:16", "720p", 4).read_bytes()
    for cut in range(len(data)):
        with pytest.raises(ValueError, match="not a valid MP4"):
            probe(data[:cut])


@pytest.mark.processes
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_probe_agrees_with_ffprobe() -> None:
    path = video_path(PRO, "16:9", "1080p", 8)
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None
    result = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-of",
            "json",
            "-show_entries",
            "stream=width,height,codec_name,pix_fmt:format=duration",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    report = json.loads(result.stdout)
    (stream,) = report["streams"]
    info = probe(path.read_bytes())
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert (stream["width"], stream["height"]) == (info.width, info.height)
    assert float(report["format"]["duration"]) == pytest.approx(info.duration, abs=0.05)
