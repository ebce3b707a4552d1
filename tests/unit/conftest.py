"""Helpers for unit tests of modules: run main() with patched arguments."""

from __future__ import annotations

import json
import typing as t

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    """Raised instead of sys.exit by exit_json/fail_json."""

    def __init__(self, result: dict[str, t.Any], failed: bool) -> None:
        super().__init__(result)
        self.result = result
        self.failed = failed


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., ModuleExit]:
    """Run a module's main() with the given arguments; return its result."""

    def _exit_json(self: basic.AnsibleModule, **kwargs: t.Any) -> None:
        raise ModuleExit(kwargs, failed=False)

    def _fail_json(self: basic.AnsibleModule, msg: str, **kwargs: t.Any) -> None:
        kwargs["msg"] = msg
        raise ModuleExit(kwargs, failed=True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def _run(
        main: t.Callable[[], None], args: dict[str, t.Any], check_mode: bool = False, diff: bool = False
    ) -> ModuleExit:
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
        with pytest.raises(ModuleExit) as info:
            main()
        return info.value

    return _run
