"""The fidelity table (openapi/FIDELITY.md) holds itself to the suite: every row has a verdict,
every "same" row names a test, and every test it names exists (the suite runs them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "openapi" / "FIDELITY.md"
VERDICTS = ("same", "differs: ", "vendor silent")


def rows() -> list[list[str]]:
    text = TABLE.read_text(encoding="utf-8")
    found = re.search(r"<!-- fidelity:start -->\n(.*?)\n<!-- fidelity:end -->", text, re.S)
    assert found is not None, "FIDELITY.md lacks its table markers"
    lines = found.group(1).splitlines()[2:]  # past the header and its rule
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_every_row_has_five_cells_and_a_verdict() -> None:
    table = rows()

    assert len(table) >= 30
    for row in table:
        assert len(row) == 5, row
        assert row[3].startswith(VERDICTS), row
    assert len({row[0] for row in table}) == len(table)  # each behaviour once


def test_every_same_row_names_a_test() -> None:
    unproved = [row[0] for row in rows() if row[3] == "same" and not row[4]]

    assert unproved == []


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


@pytest.mark.parametrize("cell", sorted({row[4] for row in rows() if row[4]}))
def test_each_named_test_exists(cell: str) -> None:
    found = re.fullmatch(r"`([\w/]+\.py)::(test_\w+)`", cell)
    assert found is not None, f"not a test reference: {cell}"
    path, name = ROOT / found.group(1), found.group(2)

    assert path.is_file(), f"{path} is missing"
    assert name in defined_tests(path), f"{name} is not defined in {found.group(1)}"
