"""Models as data: each served model validated, priced, timed and rendered from its data file and
page; a third model added by files alone; bad model files refused at start in one line."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.cli.main import build_parser, main, settings_from
from mockserver.delivery.images import ImageInfo, check_shape
from mockserver.domain.models import load_models, shipped_models
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.tasks import VideoRequest
from mockserver.domain.timing import FAST
from mockserver.spec import ModelFileError

from ..conftest import KEY, START, MakeSimulator
from ..mp4probe import probe
from ..served import Served

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MODELS = ROOT / "tests" / "fixtures" / "models"
PREVIEW = "sora-2-preview"
PRO = "sora-2-pro-preview"
#: evolink.ai/sora-2 (read 2026-12): 5.76 credits a second
PREVIEW_PRICES = {4: 23.04, 8: 46.08, 12: 69.12}
PREVIEW_RATIOS = ["1280x720", "720x1280", "16:9", "9:16"]


def body(model: str = PREVIEW, **fields: Any) -> dict[str, Any]:
    return {"model": model, "prompt": "A cat playing piano", **fields}


async def advance(api: httpx.AsyncClient, seconds: float) -> None:
    assert (await api.post("/_mock/clock/advance", json={"seconds": seconds})).status_code == 200


@contextlib.asynccontextmanager
async def api_on(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's app in-process, authenticated as KEY."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_app(simulator=sim)),
        base_url="http://mock.test",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as client:
        yield client


@pytest.fixture
async def api(make_simulator: MakeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with api_on(
        make_simulator(Settings(timings=FAST, clock="virtual", start_time=START))
    ) as client:
        yield client


@pytest.mark.parametrize("aspect_ratio", PREVIEW_RATIOS)
@pytest.mark.parametrize("duration", sorted(PREVIEW_PRICES))
async def test_sora_2_preview_reserves_its_price_for_every_duration_and_ratio(
    api: httpx.AsyncClient, duration: int, aspect_ratio: str
) -> None:
    response = await api.post(
        "/v1/videos/generations", json=body(duration=duration, aspect_ratio=aspect_ratio)
    )

    assert response.status_code == 200
    task = response.json()
    assert task["model"] == PREVIEW
    assert task["usage"]["credits_reserved"] == PREVIEW_PRICES[duration]
    assert f'"credits_reserved":{PREVIEW_PRICES[duration]},' in response.text  # exactly
    assert task["usage"]["billing_rule"] == "per_call"
    assert task["task_info"]["video_duration"] == duration


@pytest.mark.parametrize(
    ("aspect_ratio", "duration", "size"),
    [("1280x720", 8, (1280, 720)), ("9:16", 4, (720, 1280)), ("720x1280", 12, (720, 1280))],
)
async def test_a_completed_sora_2_preview_task_is_an_mp4_of_its_frame(
    api: httpx.AsyncClient, aspect_ratio: str, duration: int, size: tuple[int, int]
) -> None:
    created = (
        await api.post(
            "/v1/videos/generations", json=body(aspect_ratio=aspect_ratio, duration=duration)
        )
    ).json()
    await advance(api, created["task_info"]["estimated_time"])
    task = (await api.get(f"/v1/tasks/{created['id']}")).json()
    video = await api.get(task["results"][0])

    assert (task["status"], task["model"], task["usage"]["credits_used"]) == (
        "completed",
        PREVIEW,
        PREVIEW_PRICES[duration],
    )
    info = probe(video.content)
    assert (info.width, info.height) == size
    assert info.duration == pytest.approx(duration, abs=0.05)


async def test_a_quality_sent_to_sora_2_preview_is_not_its_field_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    """Its page declares no `quality` and does not forbid unknown fields: the task is 720p."""
    created = (await api.post("/v1/videos/generations", json=body(quality="1080p"))).json()
    await advance(api, created["task_info"]["estimated_time"])
    task = (await api.get(f"/v1/tasks/{created['id']}")).json()
    video = await api.get(task["results"][0])

    assert created["usage"]["credits_reserved"] == PREVIEW_PRICES[4]
    assert (probe(video.content).width, probe(video.content).height) == (1280, 720)


@pytest.mark.parametrize(
    ("sent", "param", "named"),
    [
        (body(PRO, aspect_ratio="1280x720"), "aspect_ratio", '"1280x720" is not one of "16:9"'),
        (body(PREVIEW, duration=10), "duration", "10 is not one of 4, 8 or 12"),
        (body(PREVIEW, aspect_ratio="4:3"), "aspect_ratio", '"4:3" is not one of "1280x720"'),
        (body(PRO, quality="4k"), "quality", '"4k" is not one of "720p" or "1080p"'),
    ],
    ids=["pro-1280x720", "preview-duration-10", "preview-4:3", "pro-quality-4k"],
)
async def test_a_create_is_refused_by_the_page_of_the_model_it_names(
    api: httpx.AsyncClient, sent: dict[str, Any], param: str, named: str
) -> None:
    response = await api.post("/v1/videos/generations", json=sent)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"], error["param"]) == (
        "invalid_request",
        "invalid_request_error",
        param,
    )
    assert error["message"].startswith(f"Invalid request parameters: {param}: ")
    assert named in error["message"]
    assert (await api.get("/_mock/tasks")).json() == []


@pytest.mark.parametrize(
    ("model", "hint"),
    [
        ("sora-3", ""),
        ("Sora-2-Preview", "; did you mean 'sora-2-preview'?"),
        (" sora-2-pro-preview ", "; did you mean 'sora-2-pro-preview'?"),
        ("sora 2 preview", ""),
        ("", ""),
    ],
    ids=["other", "case", "spaces", "inner-spaces", "empty"],
)
async def test_a_model_not_served_is_a_400_naming_it(
    api: httpx.AsyncClient, model: str, hint: str
) -> None:
    response = await api.post("/v1/videos/generations", json=body(model))

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "model")
    assert error["message"] == (
        f"Invalid request parameters: model: {model!r} is not a model served here: one of "
        f"sora-2-pro-preview, sora-2-preview{hint}"
    )


@pytest.mark.parametrize("model", [5, None, ["sora-2-preview"], {"a": 1}])
async def test_a_model_that_is_no_string_is_a_400_naming_the_field(
    api: httpx.AsyncClient, model: object
) -> None:
    response = await api.post("/v1/videos/generations", json=body(model))  # type: ignore[arg-type]

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"


async def test_the_served_document_describes_each_models_request(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    assert [ref["$ref"] for ref in schemas["VideoGenerationRequest"]["oneOf"]] == [
        f"#/components/schemas/VideoGenerationRequest.{m}" for m in (PRO, PREVIEW)
    ]
    assert schemas[f"VideoGenerationRequest.{PREVIEW}"]["properties"]["model"]["enum"] == [PREVIEW]
    assert "quality" in schemas[f"VideoGenerationRequest.{PRO}"]["properties"]


def test_a_sora_2_preview_image_must_have_exactly_its_frames_pixels() -> None:
    preview, pro = shipped_models()[PREVIEW], shipped_models()[PRO]
    request = VideoRequest(PREVIEW, "x", "1280x720", 4, "720p", ("https://i.test/a.png",))
    pro_request = request._replace(model=PRO, aspect_ratio="16:9")

    assert check_shape(ImageInfo("png", 1280, 720), request, preview) is None
    refused = check_shape(ImageInfo("png", 1920, 1080), request, preview)
    assert refused is not None
    assert refused.code == "image_dimension_mismatch"
    assert "exactly 1280x720 pixels" in refused.message
    assert check_shape(ImageInfo("png", 1920, 1080), pro_request, pro) is None  # the shape


# -- a model added by files alone --------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_args(args: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    """The app `evolink-mock serve ARGS` would serve, in-process, authenticated as KEY."""
    sim = Simulator(settings_from(build_parser().parse_args(["serve", *args])))
    try:
        async with api_on(sim) as api:
            yield api
    finally:
        await sim.aclose()


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder`, by its path, to a hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


async def test_a_third_model_from_a_fixture_folder_is_served_end_to_end() -> None:
    """`serve --models-dir DIR`: another name, price, frame size and duration; its video from the
    folder's `videos/`; nothing under mockserver/ is written or needed."""
    before = tree(ROOT / "mockserver")
    served = ["--models-dir", str(FIXTURE_MODELS), "--clock", "virtual", "--timings", "fast"]
    async with serve_args(served) as api:
        document = (await api.get("/openapi.json")).json()
        created = await api.post("/v1/videos/generations", json=body("fixture-cam-1"))
        refused = await api.post("/v1/videos/generations", json=body("fixture-cam-1", duration=4))
        task = created.json()
        await advance(api, task["task_info"]["estimated_time"] - 1)
        running = (await api.get(f"/v1/tasks/{task['id']}")).json()
        await advance(api, 1)
        done = (await api.get(f"/v1/tasks/{task['id']}")).json()
        video = await api.get(done["results"][0])
        listed = (await api.get("/_mock/tasks")).json()

    assert created.status_code == 200
    assert (task["model"], task["usage"]["credits_reserved"], task["usage"]["billing_rule"]) == (
        "fixture-cam-1",
        12.5,
        "per_call",
    )
    # FAST at 720p: 5 s queued, 10 s a second of video, scaled by the profile's 0.5
    assert task["task_info"]["estimated_time"] == 5 + 25
    assert running["status"] == "processing"
    assert (done["status"], done["usage"]["credits_used"]) == ("completed", 12.5)
    info = probe(video.content)
    assert (info.width, info.height, round(info.duration)) == (640, 480, 5)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "duration"
    assert "VideoGenerationRequest.fixture-cam-1" in document["components"]["schemas"]
    assert [t["model"] for t in listed] == ["fixture-cam-1"]
    assert tree(ROOT / "mockserver") == before


async def test_models_serve_in_the_config_leaves_a_shipped_model_out(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('[models]\nserve = ["sora-2-preview"]\n')
    async with serve_args(["--config", str(config), "--clock", "virtual"]) as api:
        pro = await api.post("/v1/videos/generations", json=body(PRO))
        preview = await api.post("/v1/videos/generations", json=body(PREVIEW))
        document = (await api.get("/openapi.json")).json()

    assert pro.status_code == 400
    assert pro.json()["error"]["message"].endswith(
        "'sora-2-pro-preview' is not a model served here: one of sora-2-preview"
    )
    assert preview.status_code == 200
    schemas = document["components"]["schemas"]
    assert [r["$ref"] for r in schemas["VideoGenerationRequest"]["oneOf"]] == [
        "#/components/schemas/VideoGenerationRequest.sora-2-preview"
    ]


# -- bad model files, refused at start ---------------------------------------------------------


def fixture_copy(tmp_path: Path, edit: str, new: str) -> Path:
    """The fixture folder copied, its data file's `edit` replaced by `new`."""
    folder = tmp_path / "models"
    shutil.copytree(FIXTURE_MODELS, folder)
    profile = folder / "fixture-cam-1.toml"
    text = profile.read_text(encoding="utf-8")
    assert edit in text
    profile.write_text(text.replace(edit, new), encoding="utf-8")
    return folder


BAD_FILES = [
    ('"480p" = { 5 = 12.5 }', '"480p" = { }', 'prices."480p".5: missing price'),
    ('"4:3" = "640x480"', '"4:3" = "800x600"', 'frames."480p"."4:3": no result video 800x600-5s'),
    ('"4:3" = "640x480"', '"4:3" = "big"', 'frames."480p"."4:3": expected "WxH"'),
    ("durations = [5]", "durations = [5, 5]", "durations: expected whole seconds"),
    ('quality = "480p"', 'quality = "720p"', "defaults.quality: '720p' is not one of ['480p']"),
    ('model = "fixture-cam-1"', 'model = "sora-2-preview"', "model: 'sora-2-preview', but"),
    ('billing_rule = "per_call"', 'billing_rule = "per_minute"', "billing_rule: expected one of"),
    ('page = "fixture-cam-1.json"', 'page = "gone.json"', "page: cannot read"),
    ('type = "video"', 'type = "video"\ncolour = 1', "colour: unknown field(s)"),
]


@pytest.mark.parametrize(("edit", "new", "message"), BAD_FILES, ids=[b[2][:24] for b in BAD_FILES])
def test_a_bad_model_file_stops_serve_with_one_line_naming_the_file_and_field(
    tmp_path: Path, edit: str, new: str, message: str
) -> None:
    folder = fixture_copy(tmp_path, edit, new)
    args = build_parser().parse_args(["serve", "--models-dir", str(folder)])

    with pytest.raises(SystemExit) as stopped:
        settings_from(args)

    line = str(stopped.value)
    assert "\n" not in line
    assert line.startswith(f"evolink-mock: error: {folder / 'fixture-cam-1.toml'}: ")
    assert message in line


def test_two_files_naming_one_model_are_refused(tmp_path: Path) -> None:
    folder = fixture_copy(tmp_path, "durations = [5]", "durations = [5]")
    shutil.copy(folder / "fixture-cam-1.toml", folder / "fixture-cam-2.toml")

    with pytest.raises(ValueError, match=r"fixture-cam-2.toml: model: 'fixture-cam-1' is .*too"):
        load_models([folder])


def test_two_models_on_one_page_are_refused(tmp_path: Path) -> None:
    folder = fixture_copy(tmp_path, "durations = [5]", "durations = [5]")
    text = (folder / "fixture-cam-1.toml").read_text(encoding="utf-8")
    (folder / "fixture-cam-2.toml").write_text(text.replace('"fixture-cam-1"', '"fixture-cam-2"'))

    with pytest.raises(ValueError, match=r"fixture-cam-2.toml: (model|page): "):
        load_models([folder])


@pytest.mark.processes
def test_serve_with_a_missing_price_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    folder = fixture_copy(tmp_path, '"480p" = { 5 = 12.5 }', '"480p" = { }')
    served = Served("--models-dir", str(folder))
    try:
        code = served.process.wait(30)
    finally:
        served.close()

    assert code != 0
    assert served.log().strip() == (
        f'evolink-mock: error: {folder / "fixture-cam-1.toml"}: prices."480p".5: missing price'
    )


async def test_a_key_without_a_model_gets_the_pages_403_naming_that_model(
    make_simulator: MakeSimulator,
) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(models=(PRO,))})
    sim = make_simulator(Settings(clock="virtual", start_time=START, profiles=profiles))
    async with api_on(sim) as api:
        allowed = await api.post("/v1/videos/generations", json=body(PRO))
        denied = await api.post("/v1/videos/generations", json=body(PREVIEW))

    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "code": "model_access_denied",
        "message": f"Token does not have access to model: {PREVIEW}",
        "type": "invalid_request_error",
    }


def test_spec_prints_the_document_a_models_folder_adds_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["spec", "--models-dir", str(FIXTURE_MODELS)])
    document = json.loads(capsys.readouterr().out)

    refs = [r["$ref"] for r in document["components"]["schemas"]["VideoGenerationRequest"]["oneOf"]]
    # the base page's model first, then by name
    assert [ref.removeprefix("#/components/schemas/VideoGenerationRequest.") for ref in refs] == [
        "sora-2-pro-preview",
        "fixture-cam-1",
        "sora-2-preview",
    ]


def test_a_model_whose_quality_the_timing_profile_lacks_stops_serve(tmp_path: Path) -> None:
    folder = fixture_copy(tmp_path, 'quality = "720p"\n', "")  # its own 480p: no vendor row
    args = build_parser().parse_args(["serve", "--models-dir", str(folder)])

    with pytest.raises(ModelFileError) as refused:
        Simulator(settings_from(args))

    assert str(refused.value) == (
        f"{folder / 'fixture-cam-1.toml'}: timing: the timing profile 'vendor' has no "
        "per_video_second row '480p' (it has 720p, 1080p): set [timing] quality to one of them"
    )
