"""Every module documents its attributes through plugins/doc_fragments/attributes.py.

The fragments are merged as ansible-core merges them (extends_documentation_fragment,
in order, the module's own keys winning), then each module must say its support for
check mode, diff mode, idempotency and its platforms; the action group it documents
must be the one meta/runtime.yml puts it in. Its EXAMPLES use names a playbook would
use, not the roles' private ones.
"""

from __future__ import annotations

import importlib
import re
import typing as t
from pathlib import Path

import pytest
import yaml
from ansible.utils.plugin_docs import merge_fragment

ROOT = Path(__file__).resolve().parents[4]
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
SUPPORT = {"full", "partial", "none", "N/A"}


def merged_doc(name: str) -> dict[str, t.Any]:
    """The module's DOCUMENTATION with this collection's fragments merged in."""
    module = importlib.import_module(f"ansible_collections.aistack.deploy.plugins.modules.{name}")
    doc = yaml.safe_load(module.DOCUMENTATION)
    for slug in doc.pop("extends_documentation_fragment", []):
        parts = slug.split(".")
        assert parts[:2] == ["aistack", "deploy"], f"{name}: fragment {slug} is not this collection's"
        fragment_module = importlib.import_module(
            f"ansible_collections.aistack.deploy.plugins.doc_fragments.{parts[2]}"
        )
        var = parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"
        fragment = yaml.safe_load(getattr(fragment_module.ModuleDocFragment, var))
        for key in ("options", "attributes"):
            if key in fragment:
                if key in doc:
                    merge_fragment(doc[key], fragment.pop(key))
                else:
                    doc[key] = fragment.pop(key)
    return doc


def group_members() -> set[str]:
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    return {entry for entry in runtime["action_groups"]["docker"] if isinstance(entry, str)}


@pytest.mark.parametrize("name", MODULES)
def test_attributes_from_the_shared_fragment(name: str) -> None:
    raw = yaml.safe_load(
        importlib.import_module(f"ansible_collections.aistack.deploy.plugins.modules.{name}").DOCUMENTATION
    )
    assert "aistack.deploy.attributes" in raw["extends_documentation_fragment"]
    attributes = merged_doc(name)["attributes"]
    for key in ("check_mode", "diff_mode", "idempotent", "platform"):
        assert attributes[key]["description"], f"{name}: {key} has no description"
        assert attributes[key]["support"] in SUPPORT, f"{name}: {key} has no support"
    assert attributes["platform"]["support"] == "N/A"
    assert attributes["platform"]["platforms"] in ("posix", "linux")


@pytest.mark.parametrize("name", MODULES)
def test_read_only_modules_have_no_diff(name: str) -> None:
    """A module whose every exit is changed=False documents diff mode as not applicable."""
    source = (ROOT / "plugins" / "modules" / f"{name}.py").read_text()
    never_changes = not re.search(r"changed[\"']?\]?\s*[:=](?!\s*False)", source.split('"""', 6)[-1])
    attributes = merged_doc(name)["attributes"]
    if never_changes:
        assert attributes["diff_mode"]["support"] == "N/A", f"{name} changes nothing"
        assert attributes["check_mode"]["support"] == "full"
    else:
        assert attributes["diff_mode"]["support"] != "N/A", f"{name} changes things: diff mode applies"


@pytest.mark.parametrize("name", MODULES)
def test_action_group_as_in_runtime(name: str) -> None:
    attributes = merged_doc(name)["attributes"]
    if name in group_members():
        assert attributes["action_group"]["membership"] == ["aistack.deploy.docker"]
    else:
        assert "action_group" not in attributes, f"{name} is in no action group of meta/runtime.yml"


@pytest.mark.parametrize("name", MODULES)
def test_examples_use_public_names(name: str) -> None:
    examples = importlib.import_module(f"ansible_collections.aistack.deploy.plugins.modules.{name}").EXAMPLES
    assert yaml.safe_load(examples)
    assert not re.search(r"\b__\w+", examples), f"{name}: EXAMPLES use a role's private variable"
