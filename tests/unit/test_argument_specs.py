"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml.

Generic: it checks each role under roles/, so a new role is checked as soon
as it lands. For each role's `main` entry point:

- every option has a default in defaults/main.yml or is `required: true`
  (not both: a default would make the requirement unreachable);
- every variable in defaults/main.yml is an option;
- where the spec gives `default:`, it equals the value in defaults/main.yml;
- the types agree (templated defaults are checked by the role at run time);
- every option (and sub-option) has a description and a type, lists have
  `elements`, and a default is one of the `choices`;
- Ansible's own argument validator accepts the defaults.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = (
    sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir() and not p.name.startswith("."))
    if ROLES_DIR.is_dir()
    else []
)

# Keys of an option in a role argument spec that Ansible's validator knows.
VALIDATOR_KEYS = {
    "type",
    "elements",
    "choices",
    "default",
    "required",
    "options",
    "aliases",
    "no_log",
    "apply_defaults",
    "mutually_exclusive",
    "required_together",
    "required_one_of",
    "required_if",
    "required_by",
}


class RoleSpec(t.NamedTuple):
    options: dict[str, dict[str, t.Any]]
    defaults: dict[str, t.Any]


def find_specs(role: str) -> dict[str, t.Any] | None:
    """The role's argument_specs (meta/argument_specs.yml, or meta/main.yml), if any."""
    root = ROLES_DIR / role
    for name in ("argument_specs.yml", "main.yml"):
        path = root / "meta" / name
        if path.is_file():
            specs = (yaml.safe_load(path.read_text()) or {}).get("argument_specs")
            if specs:
                return specs
    return None


def load_role(role: str) -> RoleSpec:
    specs = find_specs(role)
    if not specs or "main" not in specs:
        # test_role_has_argument_specs fails for this role; no need to fail every test.
        pytest.skip(f"{role} has no argument_specs for `main`")
    defaults_file = ROLES_DIR / role / "defaults" / "main.yml"
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.is_file() else {}
    return RoleSpec(specs["main"].get("options") or {}, defaults)


def is_templated(value: t.Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def type_matches(spec_type: str, value: t.Any) -> bool:
    if value is None:
        return True  # None means "not set" for every type
    checks: dict[str, t.Callable[[t.Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "path": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
        "raw": lambda v: True,
        "bytes": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
        "bits": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
        "json": lambda v: isinstance(v, (str, list, dict)),
        "jsonarg": lambda v: isinstance(v, (str, list, dict)),
    }
    assert spec_type in checks, f"unknown type {spec_type!r}"
    return checks[spec_type](value)


def type_problems(path: str, option: dict[str, t.Any], value: t.Any) -> list[str]:
    """Where value (from defaults/main.yml) does not have the spec's type."""
    if is_templated(value):
        return []
    spec_type = option.get("type", "str")
    if not type_matches(spec_type, value):
        return [f"{path}: spec type {spec_type}, default {value!r} is {type(value).__name__}"]
    problems: list[str] = []
    if spec_type == "list" and value:
        element = {"type": option.get("elements", "str"), "options": option.get("options")}
        for index, item in enumerate(value):
            problems += type_problems(f"{path}[{index}]", element, item)
    if option.get("options") and isinstance(value, dict):
        for key, item in value.items():
            sub = option["options"].get(key)
            if sub is None:
                problems.append(f"{path}.{key}: not a sub-option in the spec")
            else:
                problems += type_problems(f"{path}.{key}", sub, item)
    return problems


def doc_problems(path: str, option: dict[str, t.Any]) -> list[str]:
    problems = []
    if not option.get("description"):
        problems.append(f"{path}: no description")
    if "type" not in option:
        problems.append(f"{path}: no type")
    if option.get("type") == "list" and "elements" not in option:
        problems.append(f"{path}: a list without elements")
    if "choices" in option and "default" in option:
        # A list's choices are those of its elements (as Ansible's validator reads them).
        chosen = (
            option["default"]
            if option.get("type") == "list" and isinstance(option["default"], list)
            else [option["default"]]
        )
        if any(value not in option["choices"] for value in chosen):
            problems.append(f"{path}: default {option['default']!r} is not one of the choices")
    for key, sub in (option.get("options") or {}).items():
        problems += doc_problems(f"{path}.{key}", sub)
    return problems


def validator_spec(options: dict[str, dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """The spec without documentation keys, as the validator takes it."""
    spec = {}
    for name, option in options.items():
        entry = {key: value for key, value in option.items() if key in VALIDATOR_KEYS}
        if "options" in entry:
            entry["options"] = validator_spec(entry["options"])
        spec[name] = entry
    return spec


def test_there_are_roles() -> None:
    assert ROLES, f"no roles under {ROLES_DIR}"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs(role: str) -> None:
    specs = find_specs(role)
    assert specs, f"{role}: no argument_specs (meta/argument_specs.yml)"
    assert "main" in specs, f"{role}: argument_specs has no `main` entry point"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_default_or_is_required(role: str) -> None:
    spec = load_role(role)
    missing = [
        name for name, option in spec.options.items() if name not in spec.defaults and not option.get("required")
    ]
    both = [name for name, option in spec.options.items() if name in spec.defaults and option.get("required")]
    assert not missing, f"{role}: options with neither a default in defaults/main.yml nor required: true"
    assert not both, f"{role}: required options that defaults/main.yml sets anyway"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option(role: str) -> None:
    spec = load_role(role)
    assert sorted(set(spec.defaults) - set(spec.options)) == [], (
        f"{role}: variables in defaults/main.yml that meta/argument_specs.yml does not describe"
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_defaults_main(role: str) -> None:
    spec = load_role(role)
    differ = {
        name: {"spec": option["default"], "defaults/main.yml": spec.defaults.get(name)}
        for name, option in spec.options.items()
        if "default" in option
        and (
            name not in spec.defaults
            or option["default"] != spec.defaults[name]
            or type(option["default"]) is not type(spec.defaults[name])
        )
    }
    assert differ == {}, f"{role}: spec defaults differ from defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_types_agree(role: str) -> None:
    spec = load_role(role)
    problems = [
        problem
        for name, value in spec.defaults.items()
        if name in spec.options
        for problem in type_problems(name, spec.options[name], value)
    ]
    assert problems == []


@pytest.mark.parametrize("role", ROLES)
def test_options_are_documented(role: str) -> None:
    spec = load_role(role)
    problems = [problem for name, option in spec.options.items() for problem in doc_problems(name, option)]
    assert problems == []


@pytest.mark.parametrize("role", ROLES)
def test_ansible_accepts_the_defaults(role: str) -> None:
    spec = load_role(role)
    values = {name: value for name, value in spec.defaults.items() if name in spec.options and not is_templated(value)}
    result = ArgumentSpecValidator(validator_spec(spec.options)).validate(values)
    assert result.error_messages == []


def test_the_checks_catch_drift() -> None:
    """The helpers above see the mistakes they are there for."""
    option = {"type": "list", "elements": "dict", "options": {"name": {"type": "str"}}}
    assert type_problems("x", option, [{"name": 1}]) == ["x[0].name: spec type str, default 1 is int"]
    assert type_problems("x", {"type": "int"}, True)
    assert type_problems("x", {"type": "bool"}, "{{ other }}") == []
    assert type_problems("x", {}, "plain") == []  # type defaults to str
    assert doc_problems("x", {"type": "list"}) == ["x: no description", "x: a list without elements"]
    assert doc_problems("x", {"type": "str", "description": "d", "choices": ["a"], "default": "b"})
