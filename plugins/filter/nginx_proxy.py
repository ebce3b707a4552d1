# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter of the nginx_proxy role: its data model, checked and normalized (``nginx_proxy_model``).

Thin wrapper: the logic, and what the model holds, are in
plugins/plugin_utils/_nginx_proxy_model.py.
"""

from __future__ import annotations

import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._nginx_proxy_model import (
    nginx_proxy_model as _nginx_proxy_model,
)


def nginx_proxy_model(spec: t.Any) -> dict[str, t.Any]:
    """The model nginx.conf renders, with every problem in ``problems``."""
    return _nginx_proxy_model(spec)


class FilterModule:
    """aistack.deploy filters of the nginx_proxy role."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"nginx_proxy_model": nginx_proxy_model}
