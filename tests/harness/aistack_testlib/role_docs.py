#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Render each role README's variables table from the role's meta/argument_specs.yml.

    PYTHONPATH=tests/harness python -m aistack_testlib.role_docs            rewrite the table of every role's README
    PYTHONPATH=tests/harness python -m aistack_testlib.role_docs --check    change nothing; exit 1 naming (with a
                                                                            diff) each README that differs from its spec

A role's variables are documented once, in its argument spec (entry point
`main`): type, default, choices, description, version_added. ansible-doc
reads the same file, and defaults/main.yml must agree with it
(tests/unit/test_argument_specs.py). The README shows the spec as a table
between the marker lines BEGIN_MARKER and END_MARKER, under `## Variables`; a
README without them gets them in place of the first table of that section
(or at its end). Everything outside the markers is left as it is.

One row per option; the sub-options of a dict option (or of the dicts of a
list) follow as rows `parent.child`, and siblings with identical specs share
one row (`parent.{a,b}.child`), so a per-target override is not written five
times.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import typing as t
from pathlib import Path

import yaml

ROLES_DIR = Path(__file__).resolve().parents[3] / "roles"
BEGIN_MARKER = (
    "<!-- BEGIN variables: generated from meta/argument_specs.yml by tests/harness/aistack_testlib/role_docs.py;"
    " edit the spec, then run it -->"
)
END_MARKER = "<!-- END variables -->"
HEADING = "## Variables"
# The collection's first version (galaxy.yml had it first): options added in
# it carry version_added 0.1.0, which the table leaves out as noise.
FIRST_VERSION = "0.1.0"
DIFF_LINES = 40  # a --check diff longer than this is cut (the command that fixes it is printed)

# ansible-doc markup. V(), O() and E() take backslash escapes (`\)`, `\\`);
# the others end at the first `)`, as ansible-doc reads them.
MARKUP = re.compile(r"\b(?:(?P<esc>[VOE])\((?P<esc_arg>(?:[^\\)]|\\.)*)\)|(?P<plain>[CMIBUL])\((?P<plain_arg>[^)]*)\))")
Option = dict[str, t.Any]


def code(text: str) -> str:
    """A Markdown code span of text, safe inside a table cell."""
    text = text.replace("|", r"\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape(text: str) -> str:
    """Plain text as Markdown that shows it literally, inside a table cell."""
    text = re.sub(r"([\\`*<|])", r"\\\1", text)
    # An underscore inside a word (snake_case) never starts emphasis; one at a word's edge may.
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\_", text)


def markup(match: re.Match[str]) -> str:
    """One ansible-doc markup item as Markdown."""
    if match["esc"]:
        return code(re.sub(r"\\(.)", r"\1", match["esc_arg"]))
    kind, arg = match["plain"], match["plain_arg"]
    if kind == "I":
        return f"*{escape(arg)}*"
    if kind == "B":
        return f"**{escape(arg)}**"
    if kind == "U":
        return f"<{arg.strip()}>"
    if kind == "L":
        label, url = arg.rsplit(",", 1) if "," in arg else ("", arg)
        return f"[{escape(label.strip())}]({url.strip()})"
    return code(arg)  # C(), M()


def to_markdown(text: str) -> str:
    """Text with ansible-doc markup (C(), V(), O(), I(), B(), U(), L(), M(), E()) as Markdown."""
    parts, last = [], 0
    for match in MARKUP.finditer(text):
        parts += [escape(text[last : match.start()]), markup(match)]
        last = match.end()
    return "".join(parts + [escape(text[last:])])


class _Dumper(yaml.SafeDumper):
    """Quotes as defaults/main.yml writes them: double, but single around a backslash (no escapes)."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        # Called for scalar events only: the isinstance tells mypy so.
        if style == "'" and isinstance(self.event, yaml.ScalarEvent) and "\\" not in self.event.value:
            return '"'
        return style


def yaml_value(value: t.Any) -> str:
    """value as YAML writes it on one line (flow style)."""
    dumped = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=True, width=sys.maxsize, sort_keys=False, allow_unicode=True
    )
    return dumped.removesuffix("\n...\n").strip()


def type_cell(option: Option) -> str:
    kind = option.get("type", "str")
    if kind == "list":
        kind = f"list of {option.get('elements', 'str')}"
    choices = option.get("choices")
    if not choices:
        return kind
    listed = ", ".join(code(yaml_value(choice)) for choice in choices)
    return f"{kind}, {'each ' if kind.startswith('list') else ''}one of {listed}"


def default_cell(option: Option, top_level: bool) -> str:
    """The default; a top-level option without one in the spec has a computed default its description explains."""
    if option.get("required"):
        return "required"
    if "default" in option:
        return code(yaml_value(option["default"]))
    return "see description" if top_level else "—"


def description_cell(option: Option) -> str:
    description = option.get("description") or []
    paragraphs = [description] if isinstance(description, str) else description
    text = to_markdown(" ".join(" ".join(str(p).split()) for p in paragraphs))
    version = str(option.get("version_added", FIRST_VERSION))
    return text if version == FIRST_VERSION else f"{text} *Added in {version}.*"


def grouped(options: dict[str, Option]) -> list[tuple[str, Option]]:
    """Sub-options in spec order, siblings with equal specs as one entry named `{a,b}`."""
    groups: list[tuple[list[str], Option]] = []
    for name, option in options.items():
        same = next((names for names, spec in groups if spec == option), None)
        if same is None:
            groups.append(([name], option))
        else:
            same.append(name)
    return [(names[0] if len(names) == 1 else "{" + ",".join(names) + "}", spec) for names, spec in groups]


def option_rows(name: str, option: Option, top_level: bool = True) -> list[str]:
    """The table row of an option, then those of its sub-options."""
    cells = [code(name), type_cell(option), default_cell(option, top_level), description_cell(option)]
    rows = ["| " + " | ".join(cells) + " |"]
    for sub_name, sub in grouped(option.get("options") or {}):
        rows += option_rows(f"{name}.{sub_name}", sub, top_level=False)
    return rows


def render_section(spec_file: Path) -> str:
    """The README's generated variables section (markers included) for one role's argument spec."""
    specs = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]
    rows = [row for name, option in (specs.get("options") or {}).items() for row in option_rows(name, option)]
    table = ["| variable | type | default | description |", "| --- | --- | --- | --- |", *rows]
    return "\n".join([BEGIN_MARKER, "", *table, "", END_MARKER])


def section_end(lines: list[str], start: int) -> int:
    """Index of the first heading at or after start (outside code blocks), else len(lines)."""
    fenced = False
    for index in range(start, len(lines)):
        if lines[index].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", lines[index]):
            return index
    return len(lines)


def updated_readme(text: str, section: str) -> str:
    """The README text with its variables section replaced by section."""
    lines = text.split("\n")
    begin = next((i for i, line in enumerate(lines) if line.startswith("<!-- BEGIN variables")), None)
    if begin is not None and END_MARKER in lines[begin:]:
        end = lines.index(END_MARKER, begin)
        return "\n".join(lines[:begin] + [section] + lines[end + 1 :])
    if HEADING not in lines:
        raise ValueError(f"no line {HEADING!r} to put the variables under")
    start = lines.index(HEADING) + 1
    end = section_end(lines, start)
    table = next((i for i in range(start, end) if lines[i].startswith("|")), None)
    if table is None:  # no table yet: the section goes at the end of the heading's text
        return "\n".join(lines[:end] + [section, ""] + lines[end:])
    last = table
    while last + 1 < end and lines[last + 1].startswith("|"):
        last += 1
    return "\n".join(lines[:table] + [section] + lines[last + 1 :])


def short_diff(name: str, current: str, expected: str) -> str:
    diff = list(
        difflib.unified_diff(
            current.splitlines(), expected.splitlines(), name, f"{name} (from the spec)", n=1, lineterm=""
        )
    )
    if len(diff) > DIFF_LINES:
        diff = diff[:DIFF_LINES] + [f"... {len(diff) - DIFF_LINES} more lines"]
    return "\n".join(diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render each role README's variables table from its argument spec.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 listing each README that differs from what its spec renders",
    )
    parser.add_argument("--roles", type=Path, default=ROLES_DIR, help="the roles directory (default: %(default)s)")
    args = parser.parse_args(argv)
    stale = []
    for role in sorted(path for path in args.roles.iterdir() if (path / "meta" / "argument_specs.yml").is_file()):
        readme = role / "README.md"
        name = str(readme.relative_to(args.roles.parent))
        current = readme.read_text()
        expected = updated_readme(current, render_section(role / "meta" / "argument_specs.yml"))
        if current == expected:
            continue
        if args.check:
            stale.append(name)
            print(short_diff(name, current, expected))
        else:
            readme.write_text(expected)
            print(f"rewrote the variables of {name}")
    if stale:
        print(
            f"differ from their meta/argument_specs.yml: {', '.join(stale)}; run PYTHONPATH=tests/harness python -m aistack_testlib.role_docs"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
