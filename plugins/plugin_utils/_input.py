# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one way every role of the collection checks its input (private, not a public API).

Two generic checks, driven by the role's own ``meta/argument_specs.yml``:

- **strict types**: a value is taken only as the spec's type declares it.
  Ansible's own argument validation converts silently (``27.10`` becomes the
  string ``"27.1"``); here a number where a string is expected is a problem.
  What ``-e name=value`` can only give as a string is still accepted (digits
  for an ``int``, ``true``/``false`` for a ``bool``).
- **unknown variables**: a ``<role>_*`` variable the role does not know is a
  typo until proven otherwise; the closest known name is suggested.

Each role's semantic checks are pure functions in ``_<role>_input.py`` (or
the data-model filters of app_stack and nginx_proxy) built on ``Problems``.
Every problem names the variable as the user wrote it, its value and what is
allowed; no message lists a rule that passed.
"""

from __future__ import annotations

import difflib
import json
import re
import typing as t
from collections.abc import Mapping

# What `-e name=value` hands over for a boolean (Ansible's own spellings).
BOOL_STRINGS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"})
INT_RE = re.compile(r"^[+-]?[0-9]+$")
FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
# Patterns more than one role checks its variables against.
VERSION_RE = re.compile(r"^([0-9]+(\.[0-9]+)*([-+~][0-9A-Za-z.+~-]*)?)?$")  # 27.3.1, 27.3, 550.127.05, "" (any)
REPO_URL_RE = re.compile(r"^(https?|file)://\S+$")
FILE_PATH_RE = re.compile(r"^/.*[^/]$")  # an absolute path of a file, not a directory
TYPE_NAMES = {
    "str": "a string",
    "path": "a path (a string)",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "raw": "any value",
}


class Problems(list[str]):
    """Problems, each ``<variable>: <what is wrong>``, each once."""

    def add(self, where: str, text: str) -> None:
        # A bad role-wide default is one problem, not one per place that uses it.
        if f"{where}: {text}" not in self:
            self.append(f"{where}: {text}")


def plain(value: t.Any) -> t.Any:
    """Plain dicts and lists (Ansible may hand in lazily templated containers)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def optional_list(value: t.Any, where: str) -> list[t.Any] | None:
    """A filter's list argument, or None when it was not given (a null reaches a filter as "" on ansible-core
    before 2.19, which templates variables to strings); ValueError naming ``where`` for anything else."""
    if value is None or value == "":
        return None
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of paths or null")
    return value


def show(value: t.Any, width: int = 60) -> str:
    """A value as the user would write it, in JSON, cut to ``width`` characters."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def kind(value: t.Any) -> str:
    """The YAML-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _is_type(expected: str, value: t.Any) -> bool:
    """Whether ``value`` is of the spec type ``expected``, without any conversion."""
    if expected in ("str", "path"):
        return isinstance(value, str)
    if expected == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and bool(INT_RE.match(value.strip()))
        )
    if expected == "float":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, str) and bool(FLOAT_RE.match(value.strip()))
        )
    if expected == "bool":
        return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in BOOL_STRINGS)
    if expected == "list":
        return isinstance(value, (list, tuple))
    if expected == "dict":
        return isinstance(value, Mapping)
    return True  # raw, and types the roles do not use


def _type_text(expected: str, value: t.Any) -> str:
    text = f"must be {TYPE_NAMES.get(expected, expected)}, got {kind(value)} {show(value)}"
    if expected in ("str", "path") and isinstance(value, (int, float)) and not isinstance(value, bool):
        text += " (quote it: YAML reads 27.10 as the number 27.1)"
    return text


def _same(choice: t.Any, value: t.Any) -> bool:
    """A value equal to a choice, also as -e gives it (a string for a number or a boolean)."""
    if choice == value and isinstance(choice, bool) == isinstance(value, bool):
        return True
    return isinstance(value, str) and not isinstance(choice, str) and str(choice).lower() == value.strip().lower()


def _choice_text(choices: t.Sequence[t.Any], value: t.Any) -> str:
    return f"{show(value)} is not one of {', '.join(show(c) for c in choices)}"


def value_problems(where: str, spec: Mapping[str, t.Any], value: t.Any, problems: Problems) -> None:
    """Type, choices, elements and sub-options of one value against its spec."""
    expected = spec.get("type", "str")
    if value is None:
        # Not set: Ansible's validation refuses a missing required value before this runs.
        return
    if not _is_type(expected, value):
        problems.add(where, _type_text(expected, value))
        return
    choices = spec.get("choices")
    if expected == "list":
        _elements(where, spec, value, problems)
    elif choices is not None and not any(_same(choice, value) for choice in choices):
        problems.add(where, _choice_text(choices, value))
    if expected == "dict" and spec.get("options"):
        options_problems(where, spec["options"], value, problems)


def _elements(where: str, spec: Mapping[str, t.Any], value: t.Sequence[t.Any], problems: Problems) -> None:
    elements, choices = spec.get("elements"), spec.get("choices")
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if elements and not _is_type(elements, item):
            problems.add(here, _type_text(elements, item))
        elif choices is not None and not any(_same(choice, item) for choice in choices):
            problems.add(here, _choice_text(choices, item))
        elif elements == "dict" and spec.get("options"):
            options_problems(here, spec["options"], item, problems)


def options_problems(where: str, options: Mapping[str, t.Any], value: Mapping[str, t.Any], problems: Problems) -> None:
    """The keys of a mapping against the spec's sub-options: unknown, missing and mistyped keys."""
    known = set(options)
    for spec in options.values():
        known.update(spec.get("aliases") or [])
    for key in value:
        if key not in known:
            problems.add(
                f"{where}.{key}", f"unknown key{_suggestion(str(key), known)} (known: {', '.join(sorted(options))})"
            )
    for key, spec in options.items():
        if key in value:
            value_problems(f"{where}.{key}", spec, value[key], problems)
        elif spec.get("required") and not any(alias in value for alias in spec.get("aliases") or []):
            problems.add(f"{where}.{key}", "is required")


def _suggestion(name: str, known: t.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_variables(role: str, known: t.Iterable[str], present: t.Iterable[str]) -> list[str]:
    """Variables named ``<role>_*`` that the role does not know: typos, each with the closest known name."""
    known = set(known)
    return [
        f"{name}: not a variable of aistack.deploy.{role}{_suggestion(name, known)};"
        f" its variables are listed in its README and meta/argument_specs.yml"
        for name in sorted(set(present))
        if name.startswith(f"{role}_") and name not in known
    ]


def role_input_problems(
    options: Mapping[str, t.Any], values: Mapping[str, t.Any], role: str, present: t.Iterable[str] = ()
) -> list[str]:
    """Every generic problem of a role's input.

    ``options`` is the ``main`` entry point's options from the role's argument
    spec, ``values`` the value of each option by name (an option missing from
    ``values`` is not set), ``present`` the names of all variables that start
    with ``<role>_``.
    """
    options, values = plain(options), plain(values)
    problems = Problems()
    known = set(options)
    for name, spec in options.items():
        known.update((spec or {}).get("aliases") or [])
        if name in values:
            value_problems(name, spec or {}, values[name], problems)
    return list(problems) + unknown_variables(role, known, present)
