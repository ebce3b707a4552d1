#!/usr/bin/python
#
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Merge keys into Docker's daemon.json without touching the others
version_added: 0.1.0
description:
  - Adds, changes or removes keys in the Docker daemon configuration file (C(/etc/docker/daemon.json))
    and leaves every other key as it is, so that users, the NVIDIA Container Toolkit and other roles can
    share the file.
  - With O(state=present), O(settings) is merged into the file. Dicts merge recursively key by key
    (for example C(log-opts), C(runtimes), C(features)); lists and scalars replace what is there, and so
    does a value whose type differs from the one in the file (a dict replaces a string and the other way round).
  - With O(state=absent), the keys named in O(keys) are removed.
  - Changes are decided on content, not formatting. When the content changes, the whole file is
    rewritten as JSON with sorted keys and an indentation of two spaces.
  - Before anything is written the result is validated (see O(validate)); a file that fails is never written.
  - The file is replaced atomically. An existing file keeps its mode and owner; a new file gets mode
    C(0644), owned by C(root:root) when the module runs as root, and a missing parent directory is
    created with mode C(0755).
  - An existing file that is not valid JSON, or holds something other than a JSON object, makes the
    module fail without touching it. An empty file counts as C({}).
  - The module does not restart or reload Docker; notify a handler when RV(ignore:changed) is true.
author:
  - aistack.deploy developers (@aistack)
attributes:
  check_mode:
    support: full
    details:
      - Validation runs in check mode too, so a change that would fail validation fails there as well.
  diff_mode:
    support: full
    details:
      - The diff is the file's JSON before and after, as the module writes it.
  idempotent:
    support: full
extends_documentation_fragment:
  - aistack.deploy.attributes
  - aistack.deploy.attributes.posix
options:
  path:
    description:
      - The daemon configuration file.
      - A symbolic link is followed, and its target is updated.
    type: path
    default: /etc/docker/daemon.json
  state:
    description:
      - V(present) merges O(settings) into the file.
      - V(absent) removes the keys listed in O(keys).
    type: str
    choices: [present, absent]
    default: present
  settings:
    description:
      - The keys and values to merge into the file. Required with O(state=present), not allowed with O(state=absent).
      - Write nested keys as nested dicts (C(log-opts) with C(max-size) under it), not as paths.
      - Values go into the file as they are. Docker is strict about types, for example every value in
        C(log-opts) must be a string (V("3"), not V(3)); quote such numbers in YAML.
      - Merging an empty dict into a missing file creates nothing.
    type: dict
  keys:
    description:
      - The keys to remove. Required with O(state=absent), not allowed with O(state=present).
      - Address a nested key with a C(/)-separated path, for example V(log-opts/max-size) or V(runtimes/nvidia).
        Keys that themselves contain C(/) cannot be addressed.
      - Removing a key that is not in the file is not a change.
      - A dict emptied by a removal is removed as well (removing V(runtimes/nvidia) when it is the only
        runtime removes C(runtimes)), so taking back what a task added restores the file. Dicts that were
        already empty are left alone.
    type: list
    elements: str
  validate:
    description:
      - Validate the resulting configuration before writing it. Validation runs only when the content changes.
      - First a built-in check of the JSON types of well-known keys (for example booleans for C(live-restore),
        strings for every C(log-opts) value, lists of strings for C(registry-mirrors) and C(insecure-registries),
        C(base)/C(size) pairs for C(default-address-pools), C(path) or C(runtimeType) for every runtime in
        C(runtimes), booleans in C(features), an absolute path for C(data-root)). Keys it does not know pass.
      - Then, when a C(dockerd) binary that supports C(--validate) (Docker Engine 23.0 and later) is found on
        the target, C(dockerd --validate --config-file) on the result, which checks every key.
      - RV(validated_with) tells which of the two ran last.
    type: bool
    default: true
  backup:
    description:
      - Create a backup file including the timestamp information so you can get the original file back
        if you somehow clobbered it incorrectly. Only made when the file exists and changes.
    type: bool
    default: false
notes:
  - A key in the file that Docker also receives as a command-line flag (for example C(hosts) with C(-H fd://)
    in the systemd unit) stops the daemon from starting; C(dockerd --validate) cannot see such conflicts.
seealso:
  - name: Daemon configuration file
    description: Docker's reference for every key of daemon.json.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
requirements:
  - C(dockerd) from Docker Engine 23.0 or later on the target for full validation (optional).
"""

EXAMPLES = r"""
---
- name: Rotate container logs and keep containers running across daemon restarts
  aistack.deploy.docker_daemon_config:
    settings:
      log-driver: json-file
      log-opts:
        max-size: 10m
        max-file: "3"  # dockerd wants strings here
      live-restore: true
  notify: Restart docker

- name: Register the NVIDIA runtime next to whatever runtimes are configured
  aistack.deploy.docker_daemon_config:
    settings:
      runtimes:
        nvidia:
          path: nvidia-container-runtime
          runtimeArgs: []
      features:
        cdi: true

- name: Use a registry mirror and our own address pools
  aistack.deploy.docker_daemon_config:
    settings:
      registry-mirrors:
        - https://mirror.example.com
      default-address-pools:
        - base: 172.30.0.0/16
          size: 24
    backup: true

- name: Remove the NVIDIA runtime and one log option, keep everything else
  aistack.deploy.docker_daemon_config:
    state: absent
    keys:
      - runtimes/nvidia
      - log-opts/max-file

- name: Preview the change on a converged host
  aistack.deploy.docker_daemon_config:
    settings:
      debug: true
  check_mode: true
  diff: true
  register: daemon_preview
"""

RETURN = r"""
config:
  description: The configuration as written (or, in check mode, as it would be written).
  returned: success
  type: dict
  sample:
    live-restore: true
    log-driver: json-file
    log-opts:
      max-file: "3"
      max-size: 10m
    runtimes:
      nvidia:
        path: nvidia-container-runtime
        runtimeArgs: []
changed_keys:
  description:
    - The key paths added, changed or removed, C(/)-separated and sorted.
    - With O(state=present), a path ends at the first key that differs (a new C(runtimes) dict is reported
      as V(runtimes), a new runtime in an existing one as V(runtimes/nvidia)).
    - With O(state=absent), the paths from O(keys) that were there and are now gone.
  returned: success
  type: list
  elements: str
  sample: [live-restore, log-opts/max-file]
backup_file:
  description: Name of the backup file.
  returned: when O(backup=true) and the file existed and changed
  type: str
  sample: /etc/docker/daemon.json.2323.2026-01-31@12:00:00~
validated_with:
  description:
    - V(dockerd) when C(dockerd --validate) checked the result (after the built-in check passed),
      V(builtin) when only the built-in check ran, V(null) when nothing was validated (O(validate=false),
      or no change).
  returned: success
  type: str
  sample: builtin
diff:
  description: The file before and after as text, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before: "{}\n"
    after: "{\n  \"debug\": true\n}\n"
    before_header: /etc/docker/daemon.json (content)
    after_header: /etc/docker/daemon.json (content)
"""

import os
import tempfile
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.aistack.deploy.plugins.module_utils._daemon_config import (
    Config,
    DaemonConfigError,
    changed_keys,
    dockerd_error,
    help_supports_validate,
    merge_config,
    parse_config,
    remove_keys,
    render_config,
    same_config,
    split_key,
    validate_config,
)

NEW_FILE_MODE = 0o644
NEW_DIR_MODE = 0o755


def read_current(path: str) -> tuple[str | None, Config]:
    """Return the file's text (None when missing) and its configuration."""
    if not os.path.lexists(path):
        return None, {}
    if os.path.isdir(path):
        raise DaemonConfigError(f"{path} is a directory")
    with open(path, "rb") as handle:
        text = to_text(handle.read(), errors="surrogate_or_strict")
    return text, parse_config(text, path)


def desired_config(params: dict[str, t.Any], current: Config) -> tuple[Config, list[str]]:
    """Return the configuration to write and the key paths it changes."""
    if params["state"] == "present":
        wanted = merge_config(current, params["settings"])
        return wanted, changed_keys(current, wanted)
    for key in params["keys"]:
        split_key(key)  # reject malformed paths even when nothing is there
    wanted, removed = remove_keys(current, params["keys"])
    return wanted, sorted(removed)


def find_validating_dockerd(module: AnsibleModule) -> str | None:
    """Return the path of a dockerd that knows --validate, if there is one."""
    dockerd = module.get_bin_path("dockerd")
    if not dockerd:
        return None
    try:
        rc, out, err = module.run_command([dockerd, "--help"], handle_exceptions=False)
    except OSError:
        return None
    return dockerd if rc == 0 and help_supports_validate(out + err) else None


def run_dockerd_validate(module: AnsibleModule, dockerd: str, content: str) -> None:
    """Run dockerd --validate on content in a temporary file; raise if it refuses."""
    fd, tmp = tempfile.mkstemp(prefix="daemon-", suffix=".json", dir=module.tmpdir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(content))
        rc, out, err = module.run_command([dockerd, "--validate", "--config-file", tmp], handle_exceptions=False)
    finally:
        os.unlink(tmp)
    if rc != 0:
        message = dockerd_error(err + out).replace(tmp, "<merged daemon.json>")
        raise DaemonConfigError(
            f"dockerd --validate refuses the resulting configuration: {message}", validated_with="dockerd"
        )


def validate(module: AnsibleModule, config: Config, content: str) -> str:
    """Validate config; return which validator ran last ('builtin' or 'dockerd')."""
    errors = validate_config(config)
    if errors:
        raise DaemonConfigError(
            "the resulting daemon configuration is invalid, nothing was written: " + "; ".join(errors),
            validation_errors=errors,
            validated_with="builtin",
        )
    dockerd = find_validating_dockerd(module)
    if dockerd is None:
        return "builtin"
    run_dockerd_validate(module, dockerd, content)
    return "dockerd"


def write_config(module: AnsibleModule, path: str, content: str, creating: bool) -> None:
    """Replace path with content atomically; a new file gets 0644 root:root."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, NEW_DIR_MODE)
        os.chmod(directory, NEW_DIR_MODE)  # makedirs' mode is filtered by the umask
    fd, tmp = tempfile.mkstemp(prefix=".daemon.json.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(content))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if creating:
        os.chmod(path, NEW_FILE_MODE)
        if os.geteuid() == 0:
            os.chown(path, 0, 0)


def apply(module: AnsibleModule) -> dict[str, t.Any]:
    """Do the work; return the module result. Raises instead of failing."""
    params = module.params
    path = os.path.realpath(params["path"]) if os.path.islink(params["path"]) else params["path"]
    before_text, current = read_current(path)
    wanted, keys = desired_config(params, current)
    changed = not same_config(current, wanted)
    new_text = render_config(wanted) if changed else None
    after_text = before_text if new_text is None else new_text
    result: dict[str, t.Any] = {
        "changed": changed,
        "config": wanted,
        "changed_keys": keys if changed else [],
        "validated_with": None,
    }
    if module._diff:
        result["diff"] = {
            "before": before_text or "",
            "after": after_text or "",
            "before_header": f"{path} (content)",
            "after_header": f"{path} (content)",
        }
    if new_text is None:  # not changed
        return result
    if params["validate"]:
        result["validated_with"] = validate(module, wanted, new_text)
    if module.check_mode:
        return result
    if params["backup"] and before_text is not None:
        result["backup_file"] = module.backup_local(path)
    write_config(module, path, new_text, creating=before_text is None)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "settings": {"type": "dict"},
            "keys": {"type": "list", "elements": "str", "no_log": False},
            "validate": {"type": "bool", "default": True},
            "backup": {"type": "bool", "default": False},
        },
        required_if=[("state", "present", ("settings",)), ("state", "absent", ("keys",))],
        mutually_exclusive=[("settings", "keys")],
        supports_check_mode=True,
    )
    try:
        result = apply(module)
    except DaemonConfigError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(
            msg=f"Could not update {module.params['path']}: {to_native(exc)}", exception=traceback.format_exc()
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
