# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter of the nginx_proxy role: its data model, checked and normalized.

``nginx_proxy_model`` takes the role's variables (upstreams, routes, limits,
timeouts, headers, TLS settings and whether a certificate and key were given)
and returns the normalized model the nginx.conf template renders, plus every
problem it found, each naming the variable. The template renders only a model
without problems, so a value that would break nginx's syntax (a quote, a
brace, a newline) never reaches a host; what only nginx can judge (an extra
directive) is proven with ``nginx -t`` before it goes live.

Thin wrapper: the logic lives in plugins/plugin_utils/_nginx_proxy_model.py.
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
