"""README.md is the page Galaxy shows: its links must work in the tarball, its quick start in a clone.

- Every relative link of README.md points to a file that exists and that the
  built collection ships (galaxy.yml's build_ignore leaves it in); other links
  are absolute URLs. CONTRIBUTING.md, which ships too, is held to the same rule.
- The quick start that CI and the project's owners read stays: the two
  commands and the "run it again by hand" commands, exactly as written, name
  files that exist in a clone (.ci/run runs the same scripts/test.sh).
- galaxy.yml's links are real or absent: no placeholder host.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _ignored(path: str, patterns: list[str]) -> bool:
    """ansible-galaxy's build_ignore: a pattern matches the file or any folder above it."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def _links(text: str) -> list[str]:
    return _LINK.findall(text)


@pytest.mark.parametrize("page", ["README.md", "CONTRIBUTING.md"])
def test_every_link_is_shipped_or_absolute(page: str) -> None:
    ignore = yaml.safe_load((REPO / "galaxy.yml").read_text())["build_ignore"]
    links = _links((REPO / page).read_text())
    assert links or page != "README.md"
    for link in links:
        if re.match(r"^[a-z]+://", link):
            assert not link.startswith("http://"), link
            continue
        if link.startswith("#"):
            continue
        target = link.split("#", 1)[0]
        assert (REPO / target).exists(), f"{page}: {link} does not exist"
        assert not _ignored(target, ignore), f"{page}: {link} is left out of the tarball (galaxy.yml build_ignore)"


def test_the_shipping_check_knows_what_is_left_out() -> None:
    ignore = yaml.safe_load((REPO / "galaxy.yml").read_text())["build_ignore"]
    assert _ignored("tests/README.md", ignore) and _ignored("examples/local-fleet/hosts.yml", ignore)
    assert not _ignored("roles/app_stack/README.md", ignore) and not _ignored("examples/shapes", ignore)


QUICK_START = [
    "scripts/local-fleet.sh   # main job:",
    "scripts/test.sh          # the whole test suite:",
    "export ANSIBLE_VAULT_PASSWORD_FILE=~/.cache/aistack-deploy/local-fleet-vault-password",
    ".venv/bin/ansible-playbook -i examples/local-fleet/hosts.yml site.yml ",
    ".venv/bin/ansible-playbook -i examples/local-fleet/hosts.yml site.yml -e aistack_release=1.0.1 ",
    ".venv/bin/ansible-playbook -i examples/local-fleet/hosts.yml rollback.yml ",
]


def test_the_quick_start_stays_runnable_from_a_clone() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    for command in QUICK_START:
        assert any(line.startswith(command) for line in lines), command
    for path in (
        "scripts/local-fleet.sh",
        "scripts/test.sh",
        "examples/local-fleet/hosts.yml",
        "site.yml",
        "rollback.yml",
        "ansible.cfg",
    ):
        assert (REPO / path).exists(), path
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_galaxy_yml_links_are_real_or_absent() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    for key in ("repository", "documentation", "homepage", "issues"):
        value = galaxy.get(key)
        if value is not None:
            assert re.match(r"^https://[^/]+\.[a-z]+/", value) and ".invalid" not in value, (key, value)
