"""docs/architecture.md tells the truth: its module map is the tree, the simulator's imports
point the way its layer table says, and the client and the harness import of the other packages
only what its package table says."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

import mockserver

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGES = ["mockserver", "client/evolink_client", "contract_tests/evolink_contract"]


def _section(name: str) -> list[list[str]]:
    found = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", DOC, re.S)
    assert found is not None, f"no {name} table in docs/architecture.md"
    rows = [line for line in found.group(1).splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _modules_on_disk() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_module_map_is_the_tree() -> None:
    mapped = {row[0].strip("`") for row in _section("modules")}

    assert mapped == _modules_on_disk()
    assert all(row[1] for row in _section("modules")), "every module has its one-line role"


def _layers() -> tuple[dict[str, str], dict[str, set[str] | None]]:
    """(top-level part of mockserver -> layer, layer -> layers it may import, None for all)."""
    layer_of: dict[str, str] = {}
    allowed: dict[str, set[str] | None] = {}
    for name, modules, may in _section("layers"):
        for module in re.findall(r"`([^`]+)`", modules):
            layer_of[module] = name
        allowed[name] = None if may == "every layer" else {m.strip() for m in may.split(",") if m}
    return layer_of, allowed


def _part(path: Path) -> str:
    """`mockserver/web/app.py` -> "web"; `mockserver/spec.py` -> "spec"."""
    relative = path.relative_to(ROOT / "mockserver")
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(path: Path) -> set[str]:
    """The parts of mockserver a module imports, however it spells the import."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        package = path.relative_to(ROOT).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = [*base, *(node.module or "").split(".")] if node.module else base
                names = [[*target, alias.name] for alias in node.names]
            else:
                names = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        else:
            continue
        for dotted in names:
            parts = [p for p in dotted if p]
            if len(parts) > 1 and parts[0] == "mockserver":
                found.add(parts[1])
    return found


SIMULATOR_MODULES = sorted((ROOT / "mockserver").rglob("*.py"))


@pytest.mark.parametrize(
    "path", SIMULATOR_MODULES, ids=[str(p.relative_to(ROOT)) for p in SIMULATOR_MODULES]
)
def test_imports_point_the_way_the_layer_table_says(path: Path) -> None:
    layer_of, allowed = _layers()
    mine = layer_of[_part(path)]
    may = allowed[mine]
    for part in _imported_parts(path) - {_part(path)}:
        theirs = layer_of[part]
        assert may is None or theirs == mine or theirs in may, (
            f"{path.relative_to(ROOT)} ({mine}) imports {part} ({theirs})"
        )


def test_the_layer_table_names_every_part_of_the_package() -> None:
    layer_of, _ = _layers()
    assert {_part(path) for path in SIMULATOR_MODULES} <= set(layer_of)


#: import name -> folder, of the three installed packages
INSTALLED = {Path(package).name: package for package in PACKAGES}


def _may_import() -> dict[str, dict[str, set[str]]]:
    """package -> (another package -> the top-level names it may import from it)."""
    allowed: dict[str, dict[str, set[str]]] = {}
    for package, may, _ in _section("packages"):
        allowed[package.strip("`")] = {
            source.strip().strip("`"): set(re.findall(r"`([^`]+)`", names))
            for source, names in (entry.split(":", 1) for entry in may.split(";") if entry.strip())
        }
    return allowed


def _imports_of_the_others(path: Path, mine: str) -> list[tuple[str, str | None]]:
    """(module, name) for each import of another installed package: `from module import
    name`, or (module, None) for `import module`."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            top = node.module.split(".")[0]
            if top in INSTALLED and top != mine:
                found += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (a.name, None)
                for a in node.names
                if a.name.split(".")[0] in INSTALLED and a.name.split(".")[0] != mine
            ]
    return found


OTHER_MODULES = [
    (package, path)
    for package in ("evolink_client", "evolink_contract")
    for path in sorted((ROOT / INSTALLED[package]).rglob("*.py"))
]


@pytest.mark.parametrize(
    ("package", "path"), OTHER_MODULES, ids=[str(p.relative_to(ROOT)) for _, p in OTHER_MODULES]
)
def test_the_client_and_the_harness_import_only_what_the_package_table_says(
    package: str, path: Path
) -> None:
    may = _may_import()[package]
    wrong = [
        source if name is None else f"{source}.{name}"
        for source, name in _imports_of_the_others(path, package)
        if name is None or name not in may.get(source, set())
    ]
    allowed = {source: sorted(names) for source, names in may.items()} or "nothing"
    assert not wrong, (
        f"{path.relative_to(ROOT)} ({package}) imports {', '.join(wrong)}; "
        f"docs/architecture.md allows it {allowed}, from a package's top level"
    )


def test_the_package_table_allows_only_public_names() -> None:
    allowed = _may_import()
    assert set(allowed) == {"evolink_client", "evolink_contract"}
    for package, sources in allowed.items():
        for source, names in sources.items():
            assert source == "mockserver", (package, source)
            assert names <= set(mockserver.__all__), (package, names - set(mockserver.__all__))


#: what a comment or a document may name a module in
_TEXT_FILES = {".py", ".md", ".yaml", ".yml", ".toml", ".ini", ".js", ".html", ".sh", ".lua"}
#: not the project's own text: environments, caches, other revisions extracted by bench/ab.py
_NOT_OURS = {".git", ".venv", ".tox", ".cache", "__pycache__", "node_modules", "build", "dist"}
_MODULE_PATH = re.compile(r"\b(?:mockserver|client/evolink_client|contract_tests)/[\w/]+\.py\b")


def test_every_module_path_a_comment_or_document_names_exists() -> None:
    """A path such as `mockserver/web/dispatch.py` in a comment, docstring or document names a
    file that is there (the changelog may name what is gone)."""
    stale: list[str] = []
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [f for f in folders if f not in _NOT_OURS and not f.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if path.suffix not in _TEXT_FILES or name == "CHANGELOG.md":
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            stale += [
                f"{path.relative_to(ROOT)}: {named}"
                for named in sorted(set(_MODULE_PATH.findall(text)))
                if not (ROOT / named).is_file()
            ]
    assert stale == []
