"""tests/harness/aistack_testlib/role_docs.py: role README variable tables rendered from meta/argument_specs.yml.

The last tests are the ones that keep the READMEs from drifting: every role's
README must be what its spec renders, every option must say when it was
added, and an option whose default the spec cannot state (a template in
defaults/main.yml) must explain it in its description, since the table's
default cell points there.
"""

from __future__ import annotations

import shutil
import typing as t
from pathlib import Path

import pytest
import yaml

from aistack_testlib import role_docs

ROLES = sorted(path.parent.parent.name for path in role_docs.ROLES_DIR.glob("*/meta/argument_specs.yml"))

SPEC = """\
argument_specs:
  main:
    short_description: A role for the test
    options:
      demo_mode:
        description:
          - How it runs. V(fast) skips O(demo_checks=false) | nothing else.
          - See U(https://example.com).
        type: str
        choices: [fast, slow]
        default: fast
        version_added: 0.1.0
      demo_items:
        description: Items, each C({name, size}).
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
        options:
          name:
            description: The name.
            type: str
            required: true
          size:
            description: In bytes.
            type: int
      demo_path:
        description: Defaults to C(/srv/<name>).
        type: path
        version_added: 0.1.0
"""

TABLE = """\
| variable | type | default | description |
| --- | --- | --- | --- |
| `demo_mode` | str, one of `fast`, `slow` | `fast` | How it runs. `fast` skips `demo_checks=false` \\| nothing else. See <https://example.com>. |
| `demo_items` | list of dict | `[]` | Items, each `{name, size}`. *Added in 0.2.0.* |
| `demo_items.name` | str | required | The name. |
| `demo_items.size` | int | — | In bytes. |
| `demo_path` | path | see description | Defaults to `/srv/<name>`. |"""

README = """\
# demo

## Variables

Intro text stays.

| variable | default | what |
| --- | --- | --- |
| `demo_mode` | `fast` | old row |

Text after the table stays.

## Next
"""


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("C(/etc/docker) and V(true)", "`/etc/docker` and `true`"),
        ("O(app_image_variant=auto)", "`app_image_variant=auto`"),
        (r"V(a\)b) and E(PATH)", "`a)b` and `PATH`"),
        ("M(ansible.builtin.copy)", "`ansible.builtin.copy`"),
        ("I(never) and B(always)", "*never* and **always**"),
        ("U(https://example.com/a)", "<https://example.com/a>"),
        ("L(the guide, https://example.com/guide)", "[the guide](https://example.com/guide)"),
        ("C(a|b) or x|y", r"`a\|b` or x\|y"),
        ("C(`) and C(``a)", "`` ` `` and ``` ``a ```"),
        ("X-Forwarded-* and <name> and _x_ but snake_case", r"X-Forwarded-\* and \<name> and \_x\_ but snake_case"),
        ("V(\"\") and V('')", "`\"\"` and `''`"),
    ],
)
def test_markup_to_markdown(text: str, markdown: str) -> None:
    assert role_docs.to_markdown(text) == markdown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("", '""'),
        ("3", '"3"'),
        ("10m", "10m"),
        (True, "true"),
        (3600, "3600"),
        ([], "[]"),
        ({"max-file": "3", "live-restore": True}, '{max-file: "3", live-restore: true}'),
        ("{{ x | default('') }}", "\"{{ x | default('') }}\""),
        (["^\\${.*}$"], "['^\\${.*}$']"),  # single quotes keep a backslash as it is
    ],
)
def test_defaults_shown_as_yaml(value: t.Any, shown: str) -> None:
    assert role_docs.yaml_value(value) == shown


def test_identical_sub_options_share_a_row() -> None:
    timing = {"description": "Time.", "type": "str"}
    option = {
        "description": "Per target.",
        "type": "dict",
        "default": {},
        "options": {"api": timing, "worker": timing, "beat": {"description": "Other.", "type": "int"}},
    }
    names = [row.split(" | ")[0] for row in role_docs.option_rows("x", option)]
    assert names == ["| `x`", "| `x.{api,worker}`", "| `x.beat`"]


@pytest.fixture
def demo_roles(tmp_path: Path) -> Path:
    meta = tmp_path / "roles" / "demo" / "meta"
    meta.mkdir(parents=True)
    (meta / "argument_specs.yml").write_text(SPEC)
    (meta.parent / "README.md").write_text(README)
    return tmp_path / "roles"


def test_a_spec_renders_to_its_table(demo_roles: Path) -> None:
    section = role_docs.render_section(demo_roles / "demo" / "meta" / "argument_specs.yml")
    assert section == f"{role_docs.BEGIN_MARKER}\n\n{TABLE}\n\n{role_docs.END_MARKER}"


def test_the_first_run_replaces_the_table_and_keeps_the_text(demo_roles: Path) -> None:
    assert role_docs.main(["--roles", str(demo_roles)]) == 0
    text = (demo_roles / "demo" / "README.md").read_text()
    assert "old row" not in text
    assert text.startswith("# demo\n\n## Variables\n\nIntro text stays.\n\n" + role_docs.BEGIN_MARKER)
    assert text.endswith(f"{TABLE}\n\n{role_docs.END_MARKER}\n\nText after the table stays.\n\n## Next\n")


def test_a_heading_without_a_table_gets_the_section_at_its_end() -> None:
    text = role_docs.updated_readme("## Variables\n\nSee below.\n\n```\n# not a heading\n```\n\n## Next\n", "SECTION")
    assert text == "## Variables\n\nSee below.\n\n```\n# not a heading\n```\n\nSECTION\n\n## Next\n"


def test_check_names_a_drifted_readme_and_changes_nothing(demo_roles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert role_docs.main(["--roles", str(demo_roles)]) == 0
    assert role_docs.main(["--check", "--roles", str(demo_roles)]) == 0
    spec = demo_roles / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.replace("The name.", "The item's name."))
    readme = (demo_roles / "demo" / "README.md").read_text()
    capsys.readouterr()
    assert role_docs.main(["--check", "--roles", str(demo_roles)]) == 1
    out = capsys.readouterr().out
    assert "-| `demo_items.name` | str | required | The name. |" in out
    assert "+| `demo_items.name` | str | required | The item's name. |" in out
    assert "differ from their meta/argument_specs.yml: roles/demo/README.md" in out
    assert (demo_roles / "demo" / "README.md").read_text() == readme


def test_check_sees_a_hand_edited_readme(tmp_path: Path) -> None:
    """A copy of the real roles, with one README row edited by hand, fails the check."""
    role = ROLES[0]
    for name in ("README.md", "meta/argument_specs.yml"):
        target = tmp_path / "roles" / role / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(role_docs.ROLES_DIR / role / name, target)
    readme = tmp_path / "roles" / role / "README.md"
    text = readme.read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| `{role}_"))
    readme.write_text(text.replace(row, row.replace(" | ", " | hand-edited ", 1)))
    assert role_docs.main(["--check", "--roles", str(tmp_path / "roles")]) == 1


def spec_options(role: str) -> dict[str, dict[str, t.Any]]:
    specs = yaml.safe_load((role_docs.ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_readme_is_current(role: str) -> None:
    readme = (role_docs.ROLES_DIR / role / "README.md").read_text()
    section = role_docs.render_section(role_docs.ROLES_DIR / role / "meta" / "argument_specs.yml")
    assert role_docs.BEGIN_MARKER in readme, f"roles/{role}/README.md has no generated variables section"
    assert role_docs.updated_readme(readme, section) == readme, (
        f"roles/{role}/README.md differs from its argument spec: run python tests/harness/aistack_testlib/role_docs.py"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_version_added(role: str) -> None:
    assert [name for name, option in spec_options(role).items() if "version_added" not in option] == []


@pytest.mark.parametrize("role", ROLES)
def test_a_default_the_spec_cannot_state_is_described(role: str) -> None:
    """Without `default:` the table says "see description": the description must then say it."""
    undescribed = [
        name
        for name, option in spec_options(role).items()
        if "default" not in option
        and not option.get("required")
        and "default" not in str(option["description"]).lower()
    ]
    assert undescribed == []
