#!/usr/bin/env python
"""Render the nginx_proxy role's nginx.conf for every case, as the role does.

    PYTHONPATH=tests/harness python -m aistack_testlib.render_proxy OUTDIR

writes OUTDIR/<case>/nginx.conf and OUTDIR/<case>/tls/server.{crt,key} (a
throwaway certificate made here) for: the role's defaults, every example shape
that sets nginx_proxy_* variables (examples/shapes/*.yml), the molecule
scenario's proxy and a case that sets every option. Rendering goes through
Ansible itself (one ansible-playbook run, one play per case): the role's own
tasks/validate.yml first (the model must have no problems), then its template,
so what nginx -t checks afterwards (tests/harness/lint/nginx-test-all.sh) is what a
host would get.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# ansible-playbook of the venv this Python belongs to (the same lookup as the app_image and app_stack renders).
from aistack_testlib.render_shapes import _ansible_playbook

REPO_ROOT = Path(__file__).resolve().parents[3]
ROLE = REPO_ROOT / "roles" / "nginx_proxy"
SHAPES = REPO_ROOT / "examples" / "shapes"
SCENARIO = REPO_ROOT / "molecule" / "app_stack" / "molecule.yml"  # the scenario that runs nginx_proxy

EVERY_OPTION: dict[str, t.Any] = {
    "nginx_proxy_upstreams": {
        "api": {"host": "api", "port": 8000},
        "frontend": {"host": "frontend", "port": 3000},
        "tls-backend": {"host": "10.0.0.7", "port": 8443, "scheme": "https"},
    },
    "nginx_proxy_routes": [
        {
            "path": "/api/",
            "upstream": "api",
            "strip_prefix": True,
            "client_max_body_size": "100m",
            "read_timeout": "300s",
            "send_timeout": "300s",
            "proxy_headers": {"X-Route": "api"},
        },
        {"path": "/ws", "upstream": "api", "websocket": True, "read_timeout": "1h"},
        {"path": "/health", "upstream": "api", "match": "exact"},
        {"path": "/secure/", "upstream": "tls-backend"},
        {"path": "/", "upstream": "frontend"},
    ],
    "nginx_proxy_server_names": ["ai.example.com", "*.ai.example.com"],
    "nginx_proxy_client_max_body_size": "0",
    "nginx_proxy_timeouts": {"connect": "3s", "read": "120s", "send": "120s"},
    "nginx_proxy_proxy_headers": {"X-Request-Start": "t=${msec}"},
    "nginx_proxy_response_headers": {"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY"},
    "nginx_proxy_websocket": True,
    "nginx_proxy_extra_directives": [
        "gzip on",
        "gzip_types application/json text/css",
        'location = /robots.txt { return 200 "User-agent: *\\nDisallow: /\\n"; }',
    ],
    "nginx_proxy_tls_protocols": ["TLSv1.3"],
    "nginx_proxy_hsts_include_subdomains": True,
    "nginx_proxy_https_port": 8443,
}


def cases() -> dict[str, dict[str, t.Any]]:
    found: dict[str, dict[str, t.Any]] = {"role_defaults": {}, "every_option": EVERY_OPTION}
    for shape in sorted(SHAPES.glob("*.yml")):
        proxy = {k: v for k, v in (yaml.safe_load(shape.read_text()) or {}).items() if k.startswith("nginx_proxy_")}
        if proxy:
            found[f"shape_{shape.stem}"] = proxy
    scenario = yaml.safe_load(SCENARIO.read_text())["provisioner"]["inventory"]["group_vars"]["aistack"]
    found["molecule_app_stack"] = {k: v for k, v in scenario.items() if k.startswith("nginx_proxy_")}
    return found


def _certificate(tls: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tls / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tls / "server.key").chmod(0o600)


def render(outdir: Path) -> dict[str, Path]:
    outdir = Path(outdir).resolve()
    plays, dirs = [], {}
    with tempfile.TemporaryDirectory(prefix="aistack-proxy-render-") as work:
        for name, variables in cases().items():
            dest = outdir / name
            dest.mkdir(parents=True, exist_ok=True)
            _certificate(dest / "tls")
            dirs[name] = dest
            case_vars = Path(work) / f"{name}.json"
            case_vars.write_text(
                json.dumps(
                    {
                        **variables,
                        "aistack_stack": {
                            "name": name.replace("_", "-"),
                            "root": f"/opt/aistack/{name}",
                            "profiles": [],
                            "proxy": {
                                "service": "nginx",
                                "image": "aistack-test/nginx:1.26",
                                "config_dir": str(dest),
                                "http_port": 80,
                                "https_port": variables.get("nginx_proxy_https_port", 443),
                            },
                        },
                    }
                )
            )
            plays.append(
                {
                    "name": f"Render {name}",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": [str(ROLE / "defaults" / "main.yml"), str(case_vars)],
                    "tasks": [
                        {
                            "name": "Validate",
                            "ansible.builtin.include_role": {
                                "name": "aistack.deploy.nginx_proxy",
                                "tasks_from": "validate.yml",
                            },
                        },
                        {
                            "name": "Render nginx.conf",
                            "ansible.builtin.template": {
                                "src": str(ROLE / "templates" / "nginx.conf.j2"),
                                "dest": str(dest / "nginx.conf"),
                                "mode": "0644",
                            },
                            "vars": {"__nginx_proxy_stack": "{{ aistack_stack }}"},
                        },
                    ],
                }
            )
        playbook = Path(work) / "render.yml"
        playbook.write_text(json.dumps(plays))
        env = dict(
            os.environ,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        proc = subprocess.run(
            [_ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"rendering failed (ansible-playbook rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return dirs


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for case, path in render(Path(sys.argv[1])).items():
        print(f"{case}: {path / 'nginx.conf'}")
