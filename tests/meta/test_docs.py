"""The documentation site holds its promises: every snippet runs (or says why not), every command
it shows parses, every flag it names exists, its generated pages are the code's, its links stay
in the repository, and `mkdocs build --strict` fails on a broken link or a moved heading."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mockserver import load_spec
from mockserver.cli.config import load_config
from mockserver.cli.main import main as mock_main
from mockserver.domain.scenarios import markdown_table
from mockserver.testing.ca import write_ca
from mockserver.web.app import ROUTES

from ..plugins import lean

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _hooks()


def site_sources() -> list[Path]:
    """Every Markdown file the site shows: its own pages and the repository's files it serves."""
    return sorted(DOCS.rglob("*.md")) + [ROOT / source for source in HOOKS.INCLUDED.values()]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


#: (file, fence language, the comment line before the fence or "", the fence's text)
FENCE = re.compile(r"(?:^(<!--[^\n]*-->)\n)?^```(\w*)\n(.*?)^```", re.S | re.M)


def fences(language: str) -> list[tuple[str, str, str]]:
    found = []
    for path in [*site_sources(), ROOT / "README.md"]:
        for comment, lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
            if lang == language:
                found.append((_name(path), comment, body))
    return found


PYTHON = fences("python")


def _ids(blocks: list[tuple[str, str, str]]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for name, _, _ in blocks:
        seen[name] = seen.get(name, 0) + 1
        ids.append(f"{name}#{seen[name]}")
    return ids


# -- snippets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "comment", "code"), PYTHON, ids=_ids(PYTHON))
def test_every_python_snippet_runs_or_says_why_not(page: str, comment: str, code: str) -> None:
    included = re.findall(r'^--8<-- "([^":]+)(?::\w+)?"$', code, re.M)
    if included:  # the page shows a file of the suite: it runs there
        for file in included:
            assert re.fullmatch(r"(examples|tests)/(.+/)?test_\w+\.py", file), file
            assert (ROOT / file).is_file(), file
        return
    if comment.startswith("<!-- sketch:"):
        reason = comment.removeprefix("<!-- sketch:").removesuffix("-->").strip()
        assert len(reason) > 10, f"{page}: a sketch says why it does not run"
        return
    if comment == "<!-- pytest -->":
        return  # test_the_pytest_snippets_of_each_page_pass runs it
    assert comment == "", f"{page}: unknown snippet marker {comment!r}"
    exec(compile(code, page, "exec"), {"__name__": "docs_snippet"})


PYTEST_PAGES = sorted({page for page, comment, _ in PYTHON if comment == "<!-- pytest -->"})


@pytest.mark.processes
@pytest.mark.parametrize("page", PYTEST_PAGES)
def test_the_pytest_snippets_of_each_page_pass(page: str, pytester: pytest.Pytester) -> None:
    """A page's `<!-- pytest -->` snippets, in order, are one test module (a conftest's fixture
    and the test that uses it): run by pytest as a user's project would run them."""
    code = "\n\n".join(c for p, m, c in PYTHON if p == page and m == "<!-- pytest -->")
    tests = len(re.findall(r"^def test_", code, re.M))
    assert tests, f"{page}: its pytest snippets hold no test"
    pytester.makepyfile(test_snippets=code)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", *lean(code))

    result.assert_outcomes(passed=tests)


def test_every_toml_block_of_the_config_page_loads(tmp_path: Path) -> None:
    page = DOCS / "reference" / "config.md"
    blocks = [body for _, lang, body in FENCE.findall(page.read_text("utf-8")) if lang == "toml"]
    assert len(blocks) >= 2
    (tmp_path / "models").mkdir()
    for i, block in enumerate(blocks):
        path = tmp_path / f"config-{i}.toml"
        path.write_text(block, encoding="utf-8")
        load_config(path)  # raises, naming the field, on anything it does not take


# -- commands and flags ---------------------------------------------------------------------


def _parser(command: str) -> argparse.ArgumentParser:
    from evolink_client._cli import build_parser as video
    from evolink_contract.drift import build_parser as drift
    from evolink_contract.runner import build_parser as contract
    from mockserver.cli.main import build_parser as mock

    return (
        {"evolink-mock": mock, "evolink-video": video, "evolink-contract": contract}[command]()
        if command != "evolink-contract drift"
        else drift()
    )


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `evolink-*` command line of the site's and the README's shell blocks."""
    found = []
    for language in ("sh", "bash"):
        for page, _, body in fences(language):
            text = re.sub(r"\\\n\s*", " ", body)
            for line in text.splitlines():
                line = line.split(" # ", 1)[0].strip()
                for part in re.split(r"&&|\|\||[|;&]", line):
                    words = shlex.split(part, comments=True)
                    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                        words.pop(0)  # VAR=value before the command
                    if words and Path(words[0]).name.startswith("evolink-"):
                        found.append((page, [Path(words[0]).name, *words[1:]]))
    return found


COMMANDS = documented_commands()


@pytest.mark.parametrize(("page", "argv"), COMMANDS, ids=[" ".join(a) for _, a in COMMANDS])
def test_every_documented_command_parses(
    page: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, args = argv[0], argv[1:]
    if command == "evolink-contract" and args[:1] == ["drift"]:
        command, args = "evolink-contract drift", args[1:]
    # the CA the page makes first (`python -m mockserver.testing.ca /tmp/mock-ca`), made here
    if any("/tmp/mock-ca" in arg for arg in args):
        ca = write_ca(tmp_path / "mock-ca").parent
        args = [arg.replace("/tmp/mock-ca", str(ca)) for arg in args]
    try:
        _parser(command).parse_args(args)
    except SystemExit as stopped:
        if stopped.code != 0:  # --help: printed, and done
            pytest.fail(f"{page}: `{' '.join(argv)}` does not parse: {capsys.readouterr().err}")


def _flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


def _help(parser: argparse.ArgumentParser) -> str:
    return parser.format_help()


def _options(help_text: str) -> set[str]:
    """The flags `--help` lists as options (not those its help texts mention)."""
    return set(re.findall(r"^  (?:-\w[^,\n]*, )?(--[a-z][a-z0-9-]*)", help_text, re.M))


def all_flags() -> set[str]:
    return {flag for _, parser in HOOKS._parsers() for flag in _flags(_help(parser))}


#: flags the pages name that belong to other programs: pytest, docker and podman, image.sh
OTHER_PROGRAMS = {
    "--pdb",  # pytest
    "--strict",  # mkdocs build
    "--read-only",  # docker run
    "--health-cmd",  # docker run
    "--runtime",  # podman
    "--tag",  # scripts/image.sh build
    "--base",  # scripts/image.sh build
    "--rm",  # docker run
    "--add-host",  # docker run
}


def test_every_flag_a_page_names_is_a_flag_of_a_command() -> None:
    known = all_flags() | OTHER_PROGRAMS
    for path in [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]:
        unknown = _flags(path.read_text(encoding="utf-8")) - known
        assert not unknown, f"{_name(path)} names flags no command has: {sorted(unknown)}"


def test_the_cli_reference_lists_the_flags_of_serve_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        mock_main(["serve", "--help"])
    assert stopped.value.code == 0
    said = _options(capsys.readouterr().out)
    page = HOOKS.cli_page()
    section = page.split("## `evolink-mock serve`\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(--[a-z0-9-]+)`", section, re.M))
    listed |= set(re.findall(r"^\| `-\w`, `(--[a-z0-9-]+)`", section, re.M))

    assert "--timings" in said
    assert listed == said


@pytest.mark.parametrize(("name", "parser"), HOOKS._parsers(), ids=[n for n, _ in HOOKS._parsers()])
def test_the_cli_reference_has_every_command_and_flag(
    name: str, parser: argparse.ArgumentParser
) -> None:
    section = HOOKS.command_reference(name, parser)
    assert _options(_help(parser)) <= _flags(section)


# -- the generated and the hand-written reference pages -----------------------------------------


def test_the_scenarios_page_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    mock_main(["scenarios", "--markdown"])
    printed = capsys.readouterr().out.strip()

    assert printed == markdown_table(load_spec())
    assert printed in HOOKS.scenarios_page()


def test_the_admin_api_page_lists_every_admin_route() -> None:
    text = (DOCS / "reference" / "admin-api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)` \| `(/_mock/[^`]*)` \|", text, re.M))
    served = {
        (method, route.path)
        for route in ROUTES
        if route.path.startswith("/_mock/")
        for method in route.methods or ()
        if method != "HEAD"
    }

    assert listed == served


def test_the_recording_page_has_every_field_of_the_schema() -> None:
    page = HOOKS.recording_page()
    schema = (ROOT / "openapi" / "recording.schema.json").read_text("utf-8")
    for field in re.findall(r'^    "(\w+)": \{', schema, re.M):
        assert f"| `{field}` |" in page


# -- links ------------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")


def tracked_markdown() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    files = [ROOT / name for name in listed] or site_sources()
    return [path for path in files if path.is_file() and "fixtures" not in path.parts]


SITE_ONLY = set(HOOKS.GENERATED) | set(HOOKS.INCLUDED)


@pytest.mark.parametrize("path", tracked_markdown(), ids=_name)
def test_the_links_of_a_markdown_file_stay_in_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for match in _LINK.finditer(re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)):
        target = (match[1] or match[2]).split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{_name(path)}: {target} is outside the repository"
        in_site = resolved.is_relative_to(DOCS) and (
            resolved.relative_to(DOCS).as_posix() in SITE_ONLY
        )
        assert resolved.exists() or in_site, f"{_name(path)}: {target} does not exist"
    for quoted in re.findall(r"`((?:\.\./)+[^`\s]*)`", text):
        resolved = (path.parent / quoted).resolve()
        assert resolved.is_relative_to(ROOT), (
            f"{_name(path)} cites {quoted}, outside the repository"
        )


def test_a_link_out_of_the_site_points_at_the_repository_once_found() -> None:
    markdown = (
        "[spec](../mockserver/spec.py), [gone](../bench/no-such-file.txt), "
        "[table](../openapi/FIDELITY.md#x)"
    )
    rewritten, missing = HOOKS.rewrite_links(markdown, "docs/a.md", "a.md", "https://example.org/r")

    assert "(https://example.org/r/blob/main/mockserver/spec.py)" in rewritten
    assert "(fidelity/table.md#x)" in rewritten
    assert missing == ["../bench/no-such-file.txt"]


# -- the build -------------------------------------------------------------------------------

#: each break alone fails the build, naming what it broke (the unbroken site is .ci/run's build)
BREAKS = {
    "a link to a missing page": ("(getting-started.md)", "(getting-started-gone.md)"),
    "a link to a moved heading": (
        "(simulator/lifecycle.md#time)",
        "(simulator/lifecycle.md#clock)",
    ),
}


@pytest.mark.processes
@pytest.mark.parametrize("broken", list(BREAKS))
def test_the_strict_build_fails_on_a_broken_link(broken: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (the docs extra)")
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("hooks.py", "__pycache__"))
    old, new = BREAKS[broken]
    index = docs / "index.md"
    assert old in index.read_text("utf-8")
    index.write_text(index.read_text("utf-8").replace(old, new, 1), encoding="utf-8")
    config = (ROOT / "mkdocs.yml").read_text("utf-8")
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("  - docs/hooks.py", f"  - {DOCS / 'hooks.py'}")
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",  # and not -q: a quiet build counts no warning
            "-f",
            str(tmp_path / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1"},
    )

    assert result.returncode == 1
    assert new.strip("()").split("#")[-1] in result.stderr


def test_the_pages_workflow_publishes_the_strict_build_on_a_tag() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / "examples" / "docs-pages.yml").read_text("utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]

    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    assert "pip install '.[docs]'" in runs[0]
    assert "mkdocs build --strict" in runs[1]
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text("utf-8")
    assert workflow["jobs"]["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages@")
