"""The container image (`Containerfile`, built by `scripts/image.sh`): built once per run with
podman and run on a free port of 127.0.0.1, as a user would run it.

The build is cached by a hash of what goes into the image (a re-run with the same sources
reuses it); these tests run in one xdist worker (`xdist_group`) and the build holds a file
lock, so no two processes build at once. Where podman cannot run they skip, saying why;
`EVOLINK_TEST_IMAGE=required` (set by `.ci/run`) makes that a failure."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from mockserver import __version__

from ..bodies import create_body
from ..mp4probe import probe

ROOT = Path(__file__).resolve().parents[2]
#: `.ci/run` sets this: there the image tests must run, never skip.
REQUIRED = os.environ.get("EVOLINK_TEST_IMAGE") == "required"
TOKEN = "image-admin-token"
KEY = {"Authorization": "Bearer sk-image-test"}
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
REPOSITORY = "localhost/evolink-mock-test"
#: what goes into the image: a change to any of it builds a new one
INPUTS = [
    "Containerfile",
    ".dockerignore",
    "pyproject.toml",
    "scripts/image.sh",
    "scripts/image-check.py",
    "mockserver",
    "openapi",
    "client/evolink_client",
    "contract_tests/evolink_contract",
]

pytestmark = [pytest.mark.processes, pytest.mark.image, pytest.mark.xdist_group("image")]


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (EVOLINK_TEST_IMAGE=required)")
    pytest.skip(reason)


def podman_env() -> dict[str, str]:
    """The environment podman runs in: as scripts/image.sh does, where there is no podman
    configuration of the user's, scripts/containers.conf (containers keep our ulimits)."""
    env = dict(os.environ)
    user_conf = Path(env.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    if not (
        env.get("CONTAINERS_CONF")
        or Path("/etc/containers/containers.conf").exists()
        or (user_conf / "containers" / "containers.conf").exists()
    ):
        env["CONTAINERS_CONF"] = str(ROOT / "scripts" / "containers.conf")
    return env


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def image_sh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """scripts/image.sh, its wheels made by this Python (the version the image's base has)."""
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "image.sh"), *args],
        env={**podman_env(), "EVOLINK_IMAGE_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def content_hash() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Container:
    name: str
    url: str


@pytest.fixture(scope="module")
def image() -> str:
    """The image's tag, built by scripts/image.sh unless this content's image exists."""
    if shutil.which("podman") is None:
        unavailable("podman is not installed (apt-get install podman runc mmdebstrap)")
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
    if info.returncode != 0:
        unavailable(f"podman cannot run here: {info.stderr.strip().splitlines()[-1:]}")
    tag = f"{REPOSITORY}:{content_hash()}"
    lock = Path(tempfile.gettempdir()) / "evolink-mock-image-build.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another pytest on this machine may be building it
        if podman("image", "exists", tag).returncode != 0:
            built = image_sh("build", "--tag", tag, timeout=900)
            if "mmdebstrap is not installed" in built.stderr:
                unavailable(built.stderr.strip().splitlines()[-1])
            assert built.returncode == 0, built.stderr[-3000:]
            # the images of older sources: one test image per machine
            older = podman("images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY)
            for other in older.stdout.split():
                if other != tag:
                    podman("rmi", "--force", other)
    return tag


def start(
    image: str, *options: str, serve: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Container:
    """A container of `image` on a free port of 127.0.0.1, healthy: podman's `options`, then
    the command `serve --host 0.0.0.0 --port 8000 --clock virtual` and `serve`'s flags; `env`
    (default: the admin token) its environment."""
    name = f"evolink-mock-test-{uuid.uuid4().hex[:12]}"
    port = free_port()
    environment = {"EVOLINK_MOCK_ADMIN_TOKEN": TOKEN} if env is None else env
    environment_options = [f"--env={key}={value}" for key, value in environment.items()]
    run = podman(
        "run",
        "--detach",
        f"--name={name}",
        f"--publish=127.0.0.1:{port}:8000",
        *environment_options,
        *options,
        image,
        *["serve", "--host", "0.0.0.0", "--port", "8000", "--clock", "virtual", *serve],
    )
    assert run.returncode == 0, run.stderr
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/_mock/health", timeout=2).status_code == 200:
                return Container(name, url)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            logs = podman("logs", name).stderr
            podman("rm", "--force", name)
            pytest.fail(f"{url}/_mock/health did not answer in 30 s:\n{logs}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(image: str) -> Iterator[Container]:
    container = start(image)
    yield container
    podman("rm", "--force", container.name)


def refused(image: str, *command: str, options: tuple[str, ...] = ()) -> list[str]:
    """The lines a container of `image` prints when `command` refuses to start (it must)."""
    done = podman("run", "--rm", *options, image, *command)
    assert done.returncode != 0, done.stdout
    return [line for line in done.stderr.splitlines() if "systemd" not in line]


def test_a_build_without_podman_or_docker_says_what_to_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # the script's own needs, and no engine
    bin_dir.mkdir()
    for tool in ("dirname", "sed"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(ROOT / "scripts" / "image.sh"), "build"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "image.sh: neither podman nor docker is installed: install one "
        "(Debian: apt-get install podman runc mmdebstrap)"
    ]


@pytest.mark.parametrize(
    ("made_for", "says"),
    [
        (f"{sys.version_info[0]}.{sys.version_info[1]}", None),
        ("3.99", "but the wheels were made by Python 3.99: run scripts/image.sh with"),
    ],
    ids=["same-python", "other-python"],
)
def test_the_build_checks_the_bases_python_against_the_wheels(
    tmp_path: Path, made_for: str, says: str | None
) -> None:
    (tmp_path / "python-version").write_text(f"{made_for}\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "image-check.py"), "base:tag", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if says is None:
        assert (done.returncode, done.stderr) == (0, "")
    else:
        assert done.returncode == 1
        assert done.stderr.startswith("base image base:tag: Python 3.")
        assert says in done.stderr


def test_the_image_is_small_labelled_and_runs_serve_by_default(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert inspected["Size"] <= 250_000_000, f"{inspected['Size'] / 1e6:.0f} MB"
    assert config["Entrypoint"] == ["evolink-mock"]
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["User"] == "mock"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert "org.opencontainers.image.source" in labels
    # no compiler or build tool came along from the build stage
    tools = podman("run", "--rm", "--entrypoint=sh", image, "-c", "command -v gcc cc make curl")
    assert tools.stdout == ""


def test_a_task_completes_on_the_virtual_clock_and_its_video_downloads(
    served: Container,
) -> None:
    with httpx.Client(base_url=served.url, headers=KEY, timeout=10) as api:
        health = api.get("/_mock/health").json()
        assert health["admin_token_required"] is True
        task = api.post("/v1/videos/generations", json=create_body(duration=4)).json()
        assert task["status"] == "pending"
        wait = {"seconds": task["task_info"]["estimated_time"]}
        assert api.post("/_mock/clock/advance", json=wait).status_code == 401
        assert api.post("/_mock/clock/advance", json=wait, headers=ADMIN).status_code == 200
        done = api.get(f"/v1/tasks/{task['id']}").json()
        assert done["status"] == "completed"
        video = api.get(done["results"][0])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert probe(video.content).duration == pytest.approx(4, abs=0.1)


def test_it_runs_as_a_user_that_is_not_root_and_reports_healthy(served: Container) -> None:
    uid = podman("exec", served.name, "id", "-u")
    assert uid.returncode == 0, uid.stderr
    assert uid.stdout.strip() not in ("", "0")
    # the HEALTHCHECK's own command, run as the engine runs it
    health = podman("healthcheck", "run", served.name)
    assert health.returncode == 0, health.stdout + health.stderr
    state = json.loads(podman("inspect", served.name).stdout)[0]["State"]
    assert state["Health"]["Status"] == "healthy"


def test_sigterm_stops_it_within_seconds(image: str) -> None:
    container = start(image)
    try:
        began = time.monotonic()
        stopped = podman("stop", "--time=10", container.name)
        took = time.monotonic() - began
        assert stopped.returncode == 0, stopped.stderr
        assert took < 8, f"podman stop took {took:.1f} s"
        state = json.loads(podman("inspect", container.name).stdout)[0]["State"]
        assert state["ExitCode"] == 0  # uvicorn's own shutdown, not the SIGKILL after 10 s
    finally:
        podman("rm", "--force", container.name)


@pytest.mark.parametrize(
    ("env", "command", "says"),
    [
        ((), (), "--host 0.0.0.0 is not loopback: pass --admin-token TOKEN"),
        (("EVOLINK_MOCK_ADMIN_TOKEN=",), (), "$EVOLINK_MOCK_ADMIN_TOKEN is set but empty"),
        # serve's flags as the command: still on every interface, still refused
        ((), ("serve", "--clock", "virtual"), "--host 0.0.0.0 is not loopback"),
    ],
    ids=["no-token", "empty-token", "own-serve-command"],
)
def test_without_a_token_it_refuses_to_serve_an_open_admin(
    image: str, env: tuple[str, ...], command: tuple[str, ...], says: str
) -> None:
    options = tuple(f"--env={entry}" for entry in env)
    lines = refused(image, *command, options=options)
    assert len(lines) == 1, lines
    assert says in lines[0]


def test_admin_open_is_the_explicit_way_out(image: str) -> None:
    container = start(image, env={}, serve=("--admin-open",))
    try:
        health = httpx.get(f"{container.url}/_mock/health", timeout=10).json()
        assert health["admin_token_required"] is False
        advanced = httpx.post(f"{container.url}/_mock/clock/advance", json={"seconds": 1})
        assert advanced.status_code == 200
        assert "--admin-open: /_mock/* is open to anyone" in podman("logs", container.name).stderr
    finally:
        podman("rm", "--force", container.name)


def test_a_read_only_root_file_system_serves_from_memory(image: str) -> None:
    container = start(image, "--read-only")
    try:
        with httpx.Client(base_url=container.url, headers=KEY, timeout=10) as api:
            created = api.post("/v1/videos/generations", json=create_body())
            assert created.status_code == 200
            assert api.get(f"/v1/tasks/{created.json()['id']}").status_code == 200
    finally:
        podman("rm", "--force", container.name)


def test_db_on_a_read_only_root_needs_a_volume_and_says_so(image: str) -> None:
    options = ("--read-only", f"--env=EVOLINK_MOCK_ADMIN_TOKEN={TOKEN}")
    lines = refused(image, "serve", "--db", "/data/mock.db", options=options)
    assert lines == [
        "evolink-mock: error: --db /data/mock.db: /data is on a read-only file system: "
        "mount a writable volume there (in a container: -v NAME:/data)"
    ]


def test_db_on_a_volume_keeps_the_tasks_across_containers(image: str) -> None:
    volume = f"evolink-mock-test-{uuid.uuid4().hex[:12]}"
    assert podman("volume", "create", volume).returncode == 0
    options = ("--read-only", f"--volume={volume}:/data")
    try:
        first = start(image, *options, serve=("--db", "/data/mock.db"))
        try:
            with httpx.Client(base_url=first.url, headers=KEY, timeout=10) as api:
                task_id = api.post("/v1/videos/generations", json=create_body()).json()["id"]
        finally:
            assert podman("stop", "--time=10", first.name).returncode == 0
            podman("rm", "--force", first.name)
        second = start(image, *options, serve=("--db", "/data/mock.db"))
        try:
            again = httpx.get(f"{second.url}/v1/tasks/{task_id}", headers=KEY, timeout=10)
            assert again.status_code == 200
        finally:
            podman("rm", "--force", second.name)
    finally:
        podman("volume", "rm", "--force", volume)


def test_the_smoke_subcommand_passes_on_the_image(image: str) -> None:
    done = image_sh("smoke", "--tag", image)
    assert done.returncode == 0, done.stderr
    assert f"image.sh: smoke: {image} serves" in done.stderr
    assert podman("ps", "--all", "--quiet", "--filter", "name=evolink-mock-smoke").stdout == ""


def test_the_publishing_workflow_builds_checks_and_pushes_one_image_on_a_tag() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "publish-image.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    listed = workflow["jobs"]["image"]["steps"]
    steps = {step.get("name"): step for step in listed}
    assert steps["Build"]["run"] == "scripts/image.sh build --tag evolink-mock:ci"
    assert steps["Smoke"]["run"] == "scripts/image.sh smoke --tag evolink-mock:ci"
    push = steps["Push"]["run"]
    assert 'docker tag evolink-mock:ci "$image:$tag"' in push
    assert "org.opencontainers.image.version" in push
    # checkout and Python first
    assert [step.get("name") for step in listed] == [None, None, "Build", "Smoke", "Push"]


@pytest.fixture(scope="module")
def podman_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """podman's Docker-compatible API on a socket of this module's own, while it runs."""
    folder = tmp_path_factory.mktemp("podman")
    socket_path, log = folder / "podman.sock", folder / "service.log"
    with log.open("wb") as output:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
            env=podman_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert service.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "podman system service made no socket in 30 s"
            time.sleep(0.1)
        yield socket_path
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_testcontainers_starts_the_image_through_podmans_docker_socket(
    image: str, podman_socket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    from mockserver.testing.container import EvolinkMockContainer

    monkeypatch.setenv("DOCKER_HOST", f"unix://{podman_socket}")
    # its reaper's image comes from Docker Hub; these tests run in a container of their own
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(
        testcontainers_config, "connection_mode_override", ConnectionMode.docker_host
    )
    with EvolinkMockContainer(image) as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=mock.url, headers=KEY, timeout=10) as api:
            task = api.post("/v1/videos/generations", json=create_body()).json()
            wait = {"seconds": task["task_info"]["estimated_time"]}
            assert api.post("/_mock/clock/advance", json=wait).status_code == 401
            advanced = api.post("/_mock/clock/advance", json=wait, headers=mock.admin_headers)
            assert advanced.status_code == 200
            assert api.get(f"/v1/tasks/{task['id']}").json()["status"] == "completed"
        container_id = mock.get_wrapped_container().id
        published = podman("port", container_id).stdout.split()
        assert all(binding.startswith("127.0.0.1:") for binding in published[2::3])
    assert podman("container", "exists", container_id).returncode != 0  # removed on exit
