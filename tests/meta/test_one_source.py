"""One source for the spec, the statuses, the frame sizes and the version: every copy that must
exist is checked against it here (the client's own copies in test_client_spec_drift.py)."""

from __future__ import annotations

import ast
import itertools
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import evolink_client
import mockserver
from evolink_contract.checks import RANK, TERMINAL
from mockserver import TaskStatus, load_spec
from mockserver.domain.models import shipped_models
from mockserver.domain.tasks import OBJECT
from mockserver.web.vendor import video_path

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec()


@pytest.mark.parametrize("schema", ["VideoGenerationResponse", "TaskDetailResponse"])
def test_the_servers_statuses_and_object_are_the_specs(schema: str) -> None:
    props = SPEC.document["components"]["schemas"][schema]["properties"]
    assert [status.value for status in TaskStatus] == props["status"]["enum"]
    assert props["object"]["enum"] == [OBJECT]


def test_the_harness_ranks_every_status_and_knows_the_terminal_ones() -> None:
    assert set(RANK) == set(TaskStatus)
    assert {TaskStatus.COMPLETED, TaskStatus.FAILED} == TERMINAL
    assert RANK[TaskStatus.PENDING] < RANK[TaskStatus.PROCESSING] < RANK[TaskStatus.COMPLETED]


@pytest.mark.parametrize("model", SPEC.models)
def test_each_models_frames_cover_exactly_its_pages_enums(model: str) -> None:
    profile = shipped_models()[model]
    props = SPEC.request_schemas[model]["properties"]
    qualities = props["quality"]["enum"] if "quality" in props else [profile.fixed["quality"]]
    assert set(profile.frames) == set(itertools.product(props["aspect_ratio"]["enum"], qualities))
    assert list(profile.durations) == props["duration"]["enum"]
    assert profile.object == OBJECT


@pytest.mark.parametrize(
    ("model", "aspect_ratio", "quality", "duration"),
    [
        (model.name, *shape, d)
        for model in shipped_models()
        for shape in sorted(model.frames)
        for d in model.durations
    ],
)
def test_every_shape_has_its_video(
    model: str, aspect_ratio: str, quality: str, duration: int
) -> None:
    profile = shipped_models()[model]
    width, height = profile.frames[(aspect_ratio, quality)]
    path = video_path(profile, aspect_ratio, quality, duration)
    assert path.is_file()
    assert path.name == f"{width}x{height}-{duration}s.mp4"
    # the frame's orientation follows the aspect ratio
    assert (width > height) == (aspect_ratio in ("16:9", "1280x720"))


def test_the_version_has_one_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "mockserver/_version.py"
    installed = metadata.version("evolink-sora-mock")
    assert mockserver.__version__ == evolink_client.__version__ == installed


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def test_the_server_reads_the_spec_it_was_given() -> None:
    """Only the shipped models (the simulator's default) and the CLI's commands load the spec
    themselves; everything else reads `Simulator.spec` (which may be another document)."""
    allowed = {"mockserver/domain/models.py", "mockserver/cli/main.py"}
    found = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "mockserver").rglob("*.py")
        if _calls(path, "load_spec") and path.name != "spec.py"
    }
    assert found == allowed
