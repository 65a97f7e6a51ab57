"""MkDocs hooks: the pages generated from the code, the repository's own Markdown files served
as pages, and links out of the site checked before they are rewritten.

- `reference/cli.md` is every command's argparse parser, `reference/scenarios.md` the
  scenario catalogue (`mockserver.domain.scenarios`), `reference/recording.md` the recording
  schema, `reference/openapi.json` the merged spec: made at build time, never copied by hand.
- The Markdown files that live beside what they describe (`openapi/FIDELITY.md`,
  `client/README.md`, ...) are served as they are, at the site paths in `INCLUDED`.
- A relative link that leaves the site (`../mockserver/spec.py` from a page) becomes a link to
  the file in the repository, once the file is found there; a link to a file that is not there
  is a warning, which `mkdocs build --strict` turns into a failed build. A link to a Markdown
  file served as a page is a link to that page.

`tests/meta/test_docs.py` imports this module to compare what it generates with the commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("mkdocs.hooks.evolink")

#: the repository's Markdown files served as pages: site path -> repository path
INCLUDED: dict[str, str] = {
    "fidelity/table.md": "openapi/FIDELITY.md",
    "fidelity/spec.md": "openapi/README.md",
    "fidelity/facts.md": "openapi/vendor-facts.md",
    "contract/mutants.md": "contract_tests/README.md",
    "client.md": "client/README.md",
    "benchmarks.md": "bench/README.md",
    "tour.md": "examples/tour/README.md",
    "changelog.md": "CHANGELOG.md",
}

# -- the command-line reference --------------------------------------------------------------


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command and subcommand the package installs, with its parser."""
    from evolink_client._cli import build_parser as video_parser
    from evolink_contract.drift import build_parser as drift_parser
    from evolink_contract.runner import build_parser as contract_parser
    from mockserver.cli.main import build_parser as mock_parser

    found: list[tuple[str, argparse.ArgumentParser]] = []
    for parser in (mock_parser(), video_parser()):
        found += list(_walk(parser.prog, parser))
    found.append(("evolink-contract", contract_parser()))
    found.append(("evolink-contract drift", drift_parser()))
    return found


def _walk(
    name: str, parser: argparse.ArgumentParser
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield name, parser
        return
    yield name, parser
    for action in subcommands:
        for sub, subparser in action.choices.items():
            yield from _walk(f"{name} {sub}", subparser)


def _cell(text: str) -> str:
    """Help text as one table cell: on one line, its pipes and angle brackets as text."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def _flag_row(action: argparse.Action, parser: argparse.ArgumentParser) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
        return None
    if action.option_strings:
        shown = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            if isinstance(metavar, tuple):  # pragma: no cover - none of ours
                metavar = " ".join(metavar)
            shown += f" `{metavar}`"
    else:
        shown = f"`{action.metavar or action.dest}`"
    helped = action.help or ""
    if "%(" in helped:
        helped = helped % {**vars(action), "prog": parser.prog}
    if action.choices and not isinstance(action.choices, dict):
        helped += " (one of: " + ", ".join(f"`{c}`" for c in action.choices) + ")"
    return f"| {shown} | {_cell(helped)} |"


def command_reference(name: str, parser: argparse.ArgumentParser) -> str:
    """One command's section: its description, then a row for each flag and argument."""
    lines = [f"## `{name}`", ""]
    if parser.description:
        lines += [_cell(parser.description), ""]
    rows = [row for a in parser._actions if (row := _flag_row(a, parser))]
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subcommands:
        helps = {c.dest: c.help or "" for c in action._choices_actions}
        rows += [
            f"| [`{sub}`](#{_anchor(f'{name} {sub}')}) | {_cell(helps.get(sub, ''))} |"
            for sub in action.choices
        ]
    lines += ["| flag or argument | what |", "|---|---|", *rows, ""]
    if parser.epilog:
        lines += ["```text", parser.epilog.strip(), "```", ""]
    return "\n".join(lines)


def _anchor(heading: str) -> str:
    """The id MkDocs' toc extension gives a heading `` `heading` `` (its default slugify)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def cli_page() -> str:
    sections = "\n".join(command_reference(name, parser) for name, parser in _parsers())
    return (
        "# Command-line reference\n\n"
        "Every command the package installs and every flag it takes, written from the commands'\n"
        "own argument parsers when the site is built (`docs/hooks.py`): what `--help` prints,\n"
        "as tables.\n\n" + sections
    )


# -- the scenario catalogue, the recording format, the spec ----------------------------------


def scenarios_page() -> str:
    from mockserver import load_spec
    from mockserver.domain.scenarios import TRIGGERS, markdown_table

    return (
        "# Scenario catalogue\n\n"
        "Every named scenario, from the catalogue the code serves (`GET /_mock/scenarios`,\n"
        "`evolink-mock scenarios --markdown` prints this table). How to give one:\n"
        "[errors and scenarios](../simulator/errors.md).\n\n"
        f"{TRIGGERS}\n\n{markdown_table(load_spec())}\n"
    )


def _schema_type(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "any JSON")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def recording_page() -> str:
    schema = json.loads((ROOT / "openapi" / "recording.schema.json").read_text("utf-8"))
    required = set(schema.get("required", ()))
    rows = [
        f"| `{name}` | {_schema_type(field)} | {'yes' if name in required else 'no'} | "
        f"{_cell(field.get('description', ''))} |"
        for name, field in schema["properties"].items()
    ]
    return (
        "# Recording format\n\n"
        f"{schema['description']} Each line is one JSON object of the schema\n"
        "[`openapi/recording.schema.json`](../../openapi/recording.schema.json)\n"
        f"({schema['title'].lower()}); this table is written from it when the site is built.\n\n"
        "| field | type | required | what |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "How recordings are made and replayed: [record and replay](../contract/record-replay.md).\n"
    )


def openapi_json() -> str:
    from mockserver import load_spec

    return json.dumps(load_spec().document, ensure_ascii=False, indent=2) + "\n"


GENERATED = {
    "reference/cli.md": cli_page,
    "reference/scenarios.md": scenarios_page,
    "reference/recording.md": recording_page,
    "reference/openapi.json": openapi_json,
}

# -- links that leave the site ---------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")


def _repository_url(config: Any) -> str:
    return str(config.get("repo_url") or "").rstrip("/")


def rewrite_links(
    markdown: str, source: str, site_path: str, repo_url: str
) -> tuple[str, list[str]]:
    """`markdown`, from repository file `source` and served at `site_path`, with every relative
    link that leaves the site pointed at the repository (or at the page a Markdown file is
    served as); and the links whose target is not in the repository."""
    missing: list[str] = []
    pages = {repo: site for site, repo in INCLUDED.items()}
    pages.update(
        {
            f"docs/{p.relative_to(ROOT / 'docs').as_posix()}": p.relative_to(
                ROOT / "docs"
            ).as_posix()
            for p in (ROOT / "docs").rglob("*.md")
        }
    )

    def rewrite(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return match[0]
        path, _, fragment = target.partition("#")
        in_repo = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if in_repo.startswith("../") or in_repo == "..":
            missing.append(target)
            return match[0]
        if source.startswith("docs/") and in_repo.startswith("docs/"):
            return match[0]  # within the site: MkDocs checks it, anchors too
        if in_repo in pages:
            relative = posixpath.relpath(pages[in_repo], posixpath.dirname(site_path) or ".")
            return f"[{match['text']}]({relative}{'#' + fragment if fragment else ''})"
        if not (ROOT / in_repo).exists():
            missing.append(target)
            return match[0]
        kind = "tree" if (ROOT / in_repo).is_dir() else "blob"
        anchor = f"#{fragment}" if fragment else ""
        return f"[{match['text']}]({repo_url}/{kind}/main/{in_repo}{anchor})"

    return _LINK.sub(rewrite, markdown), missing


# -- the hooks -------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for site_path, make in GENERATED.items():
        files.append(File.generated(config, site_path, content=make()))
    for site_path, repo_path in INCLUDED.items():
        content = (ROOT / repo_path).read_text(encoding="utf-8")
        files.append(File.generated(config, site_path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    site_path = page.file.src_uri
    source = INCLUDED.get(site_path, f"docs/{site_path}")
    rewritten, missing = rewrite_links(markdown, source, site_path, _repository_url(config))
    for target in missing:
        log.warning("%s links to %r, which is not in the repository", source, target)
    return rewritten
