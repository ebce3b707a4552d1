# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the app_stack role: its data model, checked and turned into a compose file.

``app_stack_model`` takes the role's variables (services, volumes, presets,
defaults, the images app_image built, the *names* of the secrets) and returns
the normalized model plus every problem it found, each naming the variable.
``app_stack_compose`` turns a model without problems into the compose
document. ``app_stack_secret_problems`` checks secrets and returns problems
that name secrets but never show their values.

The model never holds a secret value: secrets reach containers only through
the .env file (``env_file``), so the compose file cannot leak them.

Thin wrappers: the logic lives in plugins/plugin_utils/_app_stack_model.py
(with one service's checks in _app_stack_service.py) and
plugins/plugin_utils/_app_stack_compose.py.
"""

from __future__ import annotations

import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_compose import (
    app_stack_compose as _app_stack_compose,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_model import (
    app_stack_model as _app_stack_model,
    app_stack_secret_problems as _app_stack_secret_problems,
)


def app_stack_model(spec: t.Any) -> dict[str, t.Any]:
    """The role's service and volume model, normalized, with every problem in ``problems``."""
    return _app_stack_model(spec)


def app_stack_compose(model: t.Any, defaults: t.Any, env_file: t.Any) -> dict[str, t.Any]:
    """The compose document of a model without problems."""
    return _app_stack_compose(model, defaults, env_file)


def app_stack_secret_problems(secrets: t.Any, required: t.Any, patterns: t.Any) -> list[str]:
    """Problems with the secrets, naming them, never showing a value."""
    return _app_stack_secret_problems(secrets, required, patterns)


class FilterModule:
    """aistack.deploy filters of the app_stack role."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_stack_model": app_stack_model,
            "app_stack_compose": app_stack_compose,
            "app_stack_secret_problems": app_stack_secret_problems,
        }
