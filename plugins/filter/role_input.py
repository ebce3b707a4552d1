# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The input checks of the collection's roles, as filters (documentation: the .yml files beside this one).

Thin wrappers: the logic lives in plugins/plugin_utils/_input.py (strict types
and misspelt names, shared by every role) and _<role>_input.py (each role's
own rules).
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_input import app_image_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_input import app_stack_settings_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._docker_engine_input import docker_engine_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._input import (
    optional_list,
    role_input_problems as _role_input_problems,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._nvidia_toolkit_input import (
    nvidia_toolkit_host_problems,
    nvidia_toolkit_problems,
)


def _mapping(value: t.Any, name: str, what: str) -> None:
    if not isinstance(value, t.Mapping):
        raise AnsibleFilterError(f"{name}: expects {what} (a mapping), got {type(value).__name__}")


def role_input_problems(options: t.Any, values: t.Any, role: t.Any, present: t.Any = ()) -> list[str]:
    _mapping(options, "role_input_problems", "the options of a role's argument spec")
    _mapping(values, "role_input_problems", "the variables' values, name to value")
    return _role_input_problems(options, values, str(role), list(present or []))


def docker_engine_input_problems(variables: t.Any, host: t.Any) -> list[str]:
    _mapping(variables, "docker_engine_input_problems", "the role's variables")
    _mapping(host, "docker_engine_input_problems", "what was read off the host")
    return docker_engine_problems(variables, host)


def nvidia_toolkit_input_problems(variables: t.Any, host: t.Any) -> list[str]:
    _mapping(variables, "nvidia_toolkit_input_problems", "the role's variables")
    _mapping(host, "nvidia_toolkit_input_problems", "what was read off the host")
    return nvidia_toolkit_problems(variables, host)


def nvidia_toolkit_gpu_problems(variables: t.Any, gpu: t.Any, docker: t.Any = None) -> list[str]:
    _mapping(variables, "nvidia_toolkit_gpu_problems", "the role's variables")
    _mapping(gpu, "nvidia_toolkit_gpu_problems", "the gpu of aistack.deploy.gpu_info")
    return nvidia_toolkit_host_problems(variables, gpu, docker or {})


def app_image_input_problems(variables: t.Any, context_exists: t.Any = None, present_files: t.Any = None) -> list[str]:
    _mapping(variables, "app_image_input_problems", "the role's variables")
    try:
        present = optional_list(present_files, "app_image_input_problems: present_files")
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    # null (not looked at) reaches a filter as "" on ansible-core before 2.19, as optional_list says.
    return app_image_problems(variables, None if context_exists == "" else context_exists, present)


def app_stack_input_problems(variables: t.Any) -> list[str]:
    _mapping(variables, "app_stack_input_problems", "the role's variables")
    return app_stack_settings_problems(variables)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "role_input_problems": role_input_problems,
            "docker_engine_input_problems": docker_engine_input_problems,
            "nvidia_toolkit_input_problems": nvidia_toolkit_input_problems,
            "nvidia_toolkit_gpu_problems": nvidia_toolkit_gpu_problems,
            "app_image_input_problems": app_image_input_problems,
            "app_stack_input_problems": app_stack_input_problems,
        }
