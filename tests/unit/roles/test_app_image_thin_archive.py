# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The thinned image archive (roles/app_image/files/aistack-thin-archive.py) on archives laid out as `docker save`
writes them: the legacy layout (<id>/layer.tar) and the OCI layout of Docker 25+ (blobs/sha256/<digest>).

That `docker load` accepts what it writes is proven against real engines by the scenarios that deploy a
second release (releases, app_stack): their output names the layers left out."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
import typing as t
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "app_image" / "files" / "aistack-thin-archive.py"
DRIVER = json.dumps([["Backing Filesystem", "extfs"], ["Supports d_type", "true"]])
CONTAINERD = json.dumps([["driver-type", "io.containerd.snapshotter.v1"]])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else digest(f"{out[-1]} {diff_id}".encode()))
    return out


LAYERS = [b"base layer " * 10000, b"dependencies " * 10000, b"application code"]
DIFF_IDS = [digest(layer) for layer in LAYERS]


def add(archive: tarfile.TarFile, name: str, data: bytes = b"", link: str = "") -> None:
    info = tarfile.TarInfo(name)
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
        archive.addfile(info)
    else:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


def saved(path: Path, layout: str, layers: t.Sequence[bytes] = tuple(LAYERS), shared_link: bool = False) -> list[str]:
    """An archive of one image as `docker save` writes it; returns its layer paths in the archive."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in layers]}}).encode()
    with tarfile.open(path, "w") as archive:
        if layout == "oci":
            paths = [f"blobs/sha256/{digest(layer)[7:]}" for layer in layers]
            config_path = f"blobs/sha256/{digest(config)[7:]}"
            add(archive, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
            add(archive, "index.json", b"{}")
            for layer, name in zip(layers, paths, strict=True):
                add(archive, name, layer)
        else:
            paths = [f"{n:064x}/layer.tar" for n in range(len(layers))]
            config_path = f"{digest(config)[7:]}.json"
            for n, (layer, name) in enumerate(zip(layers, paths, strict=True)):
                if shared_link and n == len(layers) - 1:
                    add(archive, name, link="../" + paths[0])  # a layer with the same content as the first
                else:
                    add(archive, name, layer)
                add(archive, f"{n:064x}/json", b"{}")
        add(archive, config_path, config)
        add(
            archive,
            "manifest.json",
            json.dumps([{"Config": config_path, "RepoTags": ["app:1"], "Layers": paths}]).encode(),
        )
    return paths


def run(archive: Path, out: Path, host: str) -> dict[str, t.Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(archive), str(out)], input=host, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def host_lines(*images: list[str], driver: str = DRIVER) -> str:
    return "\n".join([driver] + [json.dumps(layers) for layers in images]) + "\n"


def names(path: Path) -> set[str]:
    with tarfile.open(path) as archive:
        return set(archive.getnames())


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_a_host_with_the_previous_release_gets_only_the_new_layer(tmp_path: Path, layout: str) -> None:
    paths = saved(tmp_path / "full.tar", layout)
    # The host runs a release with the same base and dependencies, and another code layer.
    out = run(tmp_path / "full.tar", tmp_path / "thin" / "x.tar", host_lines(DIFF_IDS[:2] + [digest(b"old code")]))
    assert (out["thin"], out["omitted"], out["layers"], out["path"]) == (True, 2, 3, str(tmp_path / "thin" / "x.tar"))
    kept = names(tmp_path / "thin" / "x.tar")
    assert paths[2] in kept and paths[0] not in kept and paths[1] not in kept
    assert names(tmp_path / "full.tar") - kept == {paths[0], paths[1]}  # everything else is there
    assert out["bytes"] < out["archive_bytes"]
    assert (tmp_path / "thin" / "x.tar").stat().st_mode & 0o777 == 0o600


def test_a_layer_counts_only_on_the_same_layers_below_it(tmp_path: Path) -> None:
    # The host has the dependencies layer's content, but on another base: its chain differs, it travels.
    saved(tmp_path / "full.tar", "oci")
    out = run(tmp_path / "full.tar", tmp_path / "x.tar", host_lines([digest(b"other base"), DIFF_IDS[1]]))
    assert (out["thin"], out["omitted"], out["path"]) == (False, 0, str(tmp_path / "full.tar"))
    assert not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("", id="nothing-said"),
        pytest.param(host_lines(), id="no-images"),
        pytest.param(host_lines(DIFF_IDS, driver=CONTAINERD), id="containerd-image-store"),
    ],
)
def test_the_whole_archive_when_nothing_can_be_left_out(tmp_path: Path, host: str) -> None:
    saved(tmp_path / "full.tar", "legacy")
    out = run(tmp_path / "full.tar", tmp_path / "x.tar", host)
    assert (out["thin"], out["path"], out["bytes"]) == (False, str(tmp_path / "full.tar"), out["archive_bytes"])


def test_a_symbolic_link_to_a_left_out_layer_keeps_it(tmp_path: Path) -> None:
    # Legacy archives link a layer whose content another layer of the archive already has.
    layers = [LAYERS[0], LAYERS[1], LAYERS[0]]
    paths = saved(tmp_path / "full.tar", "legacy", layers, shared_link=True)
    diff_ids = [digest(layer) for layer in layers]
    out = run(tmp_path / "full.tar", tmp_path / "x.tar", host_lines(diff_ids[:1]))
    # The first layer is on the host, but the third links to its file: the file stays, nothing is left out.
    assert (out["thin"], out["omitted"], out["path"]) == (False, 0, str(tmp_path / "full.tar"))
    assert {paths[0], paths[2]} <= names(tmp_path / "full.tar")


def test_chain_ids_are_dockers() -> None:
    # The chain ID of a one-layer image is its diff ID; above, the digest of "<chain below> <diff id>".
    assert chain(DIFF_IDS)[0] == DIFF_IDS[0]
    spec = importlib.util.spec_from_file_location("aistack_thin_archive", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.chain_ids(DIFF_IDS) == chain(DIFF_IDS)
