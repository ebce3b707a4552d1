"""The app_image role's Dockerfile and .dockerignore, rendered through Ansible for every seed shape.

Every examples/shapes/*.yml is rendered (tests/harness/aistack_testlib/render_shapes.py: role
defaults, then the shape, then overrides), plus cases for the features no
shape uses (CA certificates, a package index, offline wheelhouse, GPU picked
from the aistack_gpu fact). The Dockerfiles are parsed and their structure is
asserted; hadolint lints them where it is installed (the lint tier lints the
shapes again through tests/harness/lint/hadolint-all.sh).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from aistack_testlib import render_shapes

REPO_ROOT = Path(__file__).resolve().parents[3]
SHAPES_DIR = REPO_ROOT / "examples" / "shapes"
DEFAULTS = yaml.safe_load((REPO_ROOT / "roles" / "app_image" / "defaults" / "main.yml").read_text())
SHAPES = sorted(p.stem for p in SHAPES_DIR.glob("*.yml"))
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n-----END CERTIFICATE-----\n"
HTTP_TARGETS = {"api", "flower", "development"}


REFERENCE = SHAPES_DIR / "reference_backend.yml"
CONTEXTS = Path(__file__).resolve().parent / "contexts"  # build contexts whose files decide the dependency source
EXTRA_CASES: dict[str, t.Any] = {
    "defaults_only": render_shapes.Case(None, {}),
    "ca_and_index": render_shapes.Case(
        REFERENCE,
        {
            "app_image_extra_ca_certificates": [{"name": "corp-root", "content": CA_PEM}],
            "app_image_pip_index_url": "https://pypi.corp.example/simple",
            "app_image_pip_extra_index_urls": [
                "https://mirror.corp.example/simple",
                "https://other.corp.example/simple",
            ],
            "app_image_pip_trusted_hosts": ["mirror.corp.example"],
        },
    ),
    "offline": render_shapes.Case(
        REFERENCE,
        {
            "app_image_offline": True,
            "app_image_pip_index_url": "https://pypi.corp.example/simple",
        },
    ),
    "gpu_from_fact": render_shapes.Case(None, {"aistack_gpu": {"present": True, "count": 1}}),
    # A CUDA base whose tag names no version: the label is the base's own CUDA_VERSION alone.
    "gpu_untagged_base": render_shapes.Case(
        None, {"app_image_variant": "gpu", "app_image_cuda_base": "acme/cuda:prod"}
    ),
    "no_gpu_fact": render_shapes.Case(None, {"aistack_gpu": {"present": False}}),
    "custom_base": render_shapes.Case(
        None,
        {
            "app_image_python_base": "registry.corp.example:5000/python@sha256:" + "a" * 64,
            "app_image_healthcheck": False,
        },
    ),
    "seed_base_tag": render_shapes.Case(None, {"app_image_python_base": "aistack-test/python:3.12-slim-bookworm"}),
    # Dependencies from a project (app_image_dependencies auto): uv.lock, or pyproject.toml alone.
    "uv_project": render_shapes.Case(
        None, {"app_image_context_src": str(CONTEXTS / "uv-project"), "app_image_targets": ["api", "worker", "flower"]}
    ),
    "pip_project": render_shapes.Case(
        None, {"app_image_context_src": str(CONTEXTS / "pip-project"), "app_image_gpu_requirements_file": "gpu.txt"}
    ),
    # Poetry's and PDM's locks (auto), the PDM one no package (distribution = false), offline from the wheelhouse.
    "poetry_project": render_shapes.Case(
        None,
        {
            "app_image_context_src": str(CONTEXTS / "poetry-project"),
            "app_image_targets": ["api", "flower"],
            "app_image_gpu_requirements_file": "gpu.txt",
        },
    ),
    "pdm_project": render_shapes.Case(None, {"app_image_context_src": str(CONTEXTS / "pdm-project")}),
    "pdm_project_offline": render_shapes.Case(
        None, {"app_image_context_src": str(CONTEXTS / "pdm-project"), "app_image_offline": True}
    ),
}


class Instruction(t.NamedTuple):
    name: str
    args: str


class Stage(t.NamedTuple):
    name: str
    parent: str
    instructions: list[Instruction]


class Dockerfile(t.NamedTuple):
    text: str
    global_args: dict[str, str]
    stages: dict[str, Stage]

    def chain(self, stage: str) -> list[Stage]:
        """The stage and its ancestors inside this Dockerfile, root first."""
        chain: list[Stage] = []
        while stage in self.stages:
            chain.insert(0, self.stages[stage])
            stage = self.stages[stage].parent
        return chain

    def effective(self, stage: str, name: str) -> list[str]:
        """Arguments of every `name` instruction that applies to stage (inherited ones first)."""
        return [i.args for s in self.chain(stage) for i in s.instructions if i.name == name]

    def last(self, stage: str, name: str) -> str | None:
        found = self.effective(stage, name)
        return found[-1] if found else None


def parse(text: str) -> Dockerfile:
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "a continuation line runs off the end"
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        name, args = (line.split(" ", 1) + [""])[:2]
        name = name.upper()
        if name == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", args, re.IGNORECASE)
            assert match, f"every stage is named: {line}"
            current = Stage(match.group(2), match.group(1), [])
            assert current.name not in stages, f"stage {current.name} twice"
            stages[current.name] = current
        elif current is None:
            assert name == "ARG", f"only ARG before the first FROM: {line}"
            key, value = (args.split("=", 1) + [""])[:2]
            global_args[key] = value
        else:
            current.instructions.append(Instruction(name, args))
    return Dockerfile(text, global_args, stages)


@pytest.fixture(scope="module", name="rendered")
def rendered_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cases = {**render_shapes.shape_cases(), **EXTRA_CASES}
    return render_shapes.render(tmp_path_factory.mktemp("rendered"), cases)


def dockerfile(rendered: dict[str, Path], case: str) -> Dockerfile:
    return parse((rendered[case] / "Dockerfile").read_text())


def case_vars(case: str) -> dict[str, t.Any]:
    """Role defaults + shape + overrides, as plain data (templated defaults left as they are)."""
    cases = {**render_shapes.shape_cases(), **EXTRA_CASES}
    shape, overrides = cases[case]
    merged = dict(DEFAULTS)
    if shape is not None:
        merged.update(yaml.safe_load(shape.read_text()) or {})
    merged.update(overrides)
    return merged


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


ALL_CASES = SHAPES + sorted(EXTRA_CASES)


def test_every_seed_shape_has_an_example() -> None:
    assert set(SHAPES) >= {
        "horus_ai",
        "argusai_backend",
        "ai_video_pipeline",
        "mini_ai_analyst",
        "demeterai_cpu",
        "demeterai_gpu",
        "reference_backend",
    }


@pytest.mark.parametrize("case", ALL_CASES)
def test_header_and_build_arguments(rendered: dict[str, Path], case: str) -> None:
    text = (rendered[case] / "Dockerfile").read_text()
    assert text.startswith("#\n# Ansible managed\n#\n")
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", text), "no timestamps"
    parsed = parse(text)
    variables = case_vars(case)
    assert parsed.global_args["PYTHON_VERSION"] == str(variables["app_image_python_version"])
    assert parsed.global_args["APP_ENV"] == variables["app_image_app_env"]
    assert parsed.global_args["ENABLE_GPU"] in ("true", "false")
    for stage in ("base", "builder", "runtime"):
        assert stage in parsed.stages
    assert {"PYTHON_VERSION", "ENABLE_GPU", "APP_ENV"} <= set(parsed.effective("base", "ARG"))


@pytest.mark.parametrize("case", ALL_CASES)
def test_targets_run_as_non_root_with_exec_form_and_healthchecks(rendered: dict[str, Path], case: str) -> None:
    parsed = dockerfile(rendered, case)
    variables = case_vars(case)
    targets = variables["app_image_targets"]
    order = ["api", "worker", "beat", "flower", "development"]
    assert [s for s in parsed.stages if s not in ("base", "builder", "runtime") and not s.endswith("-wheels")] == [
        s for s in order if s in targets
    ]
    user = f"{variables['app_image_uid']}:{variables['app_image_gid']}"
    for target in targets:
        assert parsed.stages[target].parent == "runtime"
        assert parsed.last(target, "USER") == user
        assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "numeric, non-root"
        assert parsed.last(target, "STOPSIGNAL") == "SIGTERM"
        assert parsed.effective(target, "ENTRYPOINT") == []
        cmd = json.loads(parsed.last(target, "CMD") or "null")
        assert isinstance(cmd, list) and cmd, f"{target}: exec-form CMD"
        health = parsed.last(target, "HEALTHCHECK") or ""
        if not variables["app_image_healthcheck"]:
            assert health == "NONE"
            continue
        options, probe = health.split(" CMD ", 1)
        argv = json.loads(probe)
        if target in HTTP_TARGETS:
            assert argv[:2] == ["python", "-c"] and "urllib.request.urlopen('http://127.0.0.1:" in argv[2]
        elif target == "worker":
            assert argv[:2] == ["sh", "-c"] and "inspect" in argv[2] and "celery@$HOSTNAME" in argv[2]
        else:
            assert argv[:2] == ["python", "-c"] and "ensure_connection" in argv[2]
        for flag in ("--interval=", "--timeout=", "--start-period=", "--retries="):
            assert flag in options
        # The Celery probes import the application: their own timeout, unless the target overrides it.
        timeout = (variables["app_image_health_by_target"].get(target) or {}).get("timeout") or (
            variables["app_image_celery_health_timeout"]
            if target in ("worker", "beat")
            else variables["app_image_health_timeout"]
        )
        assert f"--timeout={timeout} " in options + " ", (target, options)


@pytest.mark.parametrize("case", ALL_CASES)
def test_commands_per_target(rendered: dict[str, Path], case: str) -> None:
    parsed = dockerfile(rendered, case)
    variables = case_vars(case)
    commands = {target: json.loads(parsed.last(target, "CMD") or "null") for target in variables["app_image_targets"]}
    port = str(variables["app_image_port"])
    if "api" in commands:
        api = commands["api"]
        assert api[0] == variables["app_image_server"]
        assert variables["app_image_asgi_app"] in api
        assert port in " ".join(api)
    if "development" in commands:
        assert commands["development"][0] == "uvicorn" and "--reload" in commands["development"]
        assert "APP_ENV=development" in parsed.effective("development", "ENV")
    for target in ("worker", "beat", "flower"):
        if target in commands:
            assert commands[target][:3] == ["celery", "-A", variables["app_image_celery_app"]]
            assert commands[target][3] == target


@pytest.mark.parametrize("case", ALL_CASES)
def test_layers_come_in_cache_friendly_order(rendered: dict[str, Path], case: str) -> None:
    parsed = dockerfile(rendered, case)
    builder = [i.name for i in parsed.stages["builder"].instructions]
    assert builder.index("COPY") < builder.index("RUN", builder.index("COPY")), "requirements before the install"
    runtime = parsed.stages["runtime"].instructions
    copies = [i.args for i in runtime if i.name == "COPY"]
    assert copies[0].startswith("--from=builder "), "the virtualenv first, then baked files, then code"
    variables = case_vars(case)
    baked = [f"{item['src']} {item['dest']}" for item in variables["app_image_baked_paths"]]
    assert copies[1 : 1 + len(baked)] == baked
    assert len(copies) == 1 + len(baked) + len(variables["app_image_app_paths"])
    env = " ".join(parsed.effective("runtime", "ENV"))
    for setting in ("PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PATH=/opt/venv/bin:$PATH"):
        assert setting in env


@pytest.mark.parametrize("case", SHAPES)
def test_variant_base_image(rendered: dict[str, Path], case: str) -> None:
    parsed = dockerfile(rendered, case)
    base = parsed.stages["base"].parent
    if case == "demeterai_gpu":
        assert base == "nvidia/cuda:12.6.3-runtime-ubuntu24.04"
        assert parsed.global_args["ENABLE_GPU"] == "true"
        install = " ".join(parsed.effective("base", "RUN"))
        assert '"python${PYTHON_VERSION}" "python${PYTHON_VERSION}-venv"' in install
        builder_run = " ".join(i.args for i in parsed.stages["builder"].instructions if i.name == "RUN")
        assert 'if [ "$ENABLE_GPU" = true ]; then set -- "$@" -r requirements-gpu.txt; fi' in builder_run
        assert "python${PYTHON_VERSION} -m venv /opt/venv" in builder_run
    else:
        assert base == "python:${PYTHON_VERSION}-slim"
        assert parsed.global_args["ENABLE_GPU"] == "false"


def test_gpu_variant_follows_the_aistack_gpu_fact(rendered: dict[str, Path]) -> None:
    assert dockerfile(rendered, "gpu_from_fact").stages["base"].parent == DEFAULTS["app_image_cuda_base"]
    assert dockerfile(rendered, "gpu_from_fact").global_args["ENABLE_GPU"] == "true"
    assert dockerfile(rendered, "no_gpu_fact").stages["base"].parent == "python:${PYTHON_VERSION}-slim"
    assert dockerfile(rendered, "defaults_only").stages["base"].parent == "python:${PYTHON_VERSION}-slim"


@pytest.mark.parametrize(
    "case, label",
    [
        # The CUDA base's own CUDA_VERSION when the build sees one (NVIDIA's images set it), else its tag's version.
        ("demeterai_gpu", 'io.aistack.deploy.cuda-version="${CUDA_VERSION:-12.6.3}"'),
        ("gpu_from_fact", 'io.aistack.deploy.cuda-version="${CUDA_VERSION:-12.6.3}"'),
        ("gpu_untagged_base", 'io.aistack.deploy.cuda-version="${CUDA_VERSION:-}"'),
    ],
)
def test_the_gpu_variant_says_which_cuda_it_is_built_for(rendered: dict[str, Path], case: str, label: str) -> None:
    labels = dockerfile(rendered, case).effective("runtime", "LABEL")
    assert label in labels, labels
    assert not any("cuda-version" in text for text in dockerfile(rendered, "no_gpu_fact").effective("runtime", "LABEL"))


def test_python_version_argument_replaces_only_a_version_tag(rendered: dict[str, Path]) -> None:
    assert (
        dockerfile(rendered, "seed_base_tag").stages["base"].parent
        == "aistack-test/python:${PYTHON_VERSION}-slim-bookworm"
    )
    assert (
        dockerfile(rendered, "custom_base").stages["base"].parent
        == EXTRA_CASES["custom_base"].overrides["app_image_python_base"]
    )


def test_ca_certificates_and_package_index(rendered: dict[str, Path]) -> None:
    parsed = dockerfile(rendered, "ca_and_index")
    base = parsed.stages["base"].instructions
    assert Instruction("COPY", "aistack-ca-certificates/ /usr/local/share/ca-certificates/aistack/") in base
    assert Instruction("RUN", "update-ca-certificates") in base
    assert "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in " ".join(parsed.effective("base", "ENV"))
    assert "BEGIN CERTIFICATE" not in parsed.text, "certificates are copied from the context, not written here"
    assert parsed.global_args["PIP_INDEX_URL"] == "https://pypi.corp.example/simple"
    assert (
        parsed.global_args["PIP_EXTRA_INDEX_URL"]
        == '"https://mirror.corp.example/simple https://other.corp.example/simple"'
    )
    assert parsed.global_args["PIP_TRUSTED_HOST"] == '"mirror.corp.example"'
    fetching = ["builder", "flower-wheels", "development-wheels"]
    for name in fetching:
        assert [i.args for i in parsed.stages[name].instructions if i.name == "ARG"] == [
            "PIP_INDEX_URL",
            "PIP_EXTRA_INDEX_URL",
            "PIP_TRUSTED_HOST",
        ], name
    for stage in parsed.stages.values():
        if stage.name not in fetching:
            assert "PIP_" not in " ".join(i.args for i in stage.instructions if i.name != "ENV"), (
                f"{stage.name}: index settings only where pip fetches, never in a target"
            )
    ignore = (rendered["ca_and_index"] / ".dockerignore").read_text().splitlines()
    assert "!aistack-ca-certificates" in ignore and "aistack-ca-certificates" not in ignore


def test_offline_installs_only_from_the_wheelhouse(rendered: dict[str, Path]) -> None:
    parsed = dockerfile(rendered, "offline")
    builder = parsed.stages["builder"].instructions
    assert Instruction("COPY", "wheelhouse/ /wheelhouse/") in builder
    assert not [
        i for s in parsed.stages.values() for i in s.instructions if i.name == "ARG" and i.args.startswith("PIP_")
    ]
    assert not [name for name in parsed.global_args if name.startswith("PIP_")], "no index when offline"
    run = " ".join(
        i.args
        for s in ("builder", "flower-wheels", "development-wheels")
        for i in parsed.stages[s].instructions
        if i.name == "RUN"
    )
    wheel_commands = re.findall(r"pip wheel [^&]*", run)
    assert len(wheel_commands) == 3  # main, flower, development
    assert all("--no-index --find-links /wheelhouse" in c for c in wheel_commands)
    installs = [
        i.args for s in parsed.stages.values() for i in s.instructions if i.name == "RUN" and "pip install" in i.args
    ]
    assert installs and all("--no-index" in i for i in installs)
    ignore = (rendered["offline"] / ".dockerignore").read_text().splitlines()
    assert "!wheelhouse" in ignore and "wheelhouse" not in ignore
    online = (rendered["reference_backend"] / ".dockerignore").read_text().splitlines()
    assert "wheelhouse" in online


def test_flower_and_development_requirements_only_in_their_targets(rendered: dict[str, Path]) -> None:
    parsed = dockerfile(rendered, "reference_backend")
    assert "flower" not in " ".join(i.args for i in parsed.stages["builder"].instructions)
    wheels = " ".join(i.args for i in parsed.stages["flower-wheels"].instructions if i.name == "RUN")
    assert parsed.stages["flower-wheels"].parent == "builder"
    assert "pip freeze > /wheels-flower/constraints.txt" in wheels
    assert "-c /wheels-flower/constraints.txt -r /wheels-flower/requirements.txt" in wheels
    assert (
        Instruction("COPY", "--from=flower-wheels /wheels-flower /tmp/wheels-flower")
        in parsed.stages["flower"].instructions
    )
    others = " ".join(
        i.args for s in ("runtime", "api", "worker", "beat", "development") for i in parsed.stages[s].instructions
    )
    assert "wheels-flower" not in others
    assert "wheels-development" in " ".join(i.args for i in parsed.stages["development"].instructions)
    order = list(parsed.stages)
    assert order.index("api") < order.index("flower-wheels") < order.index("flower"), (
        "the classic builder builds every stage before the target: api never waits for Flower's wheels"
    )
    mini = dockerfile(rendered, "mini_ai_analyst")
    assert "echo flower==2.2.0 > /wheels-flower/requirements.txt" in mini.text
    assert "development-wheels" not in mini.stages, "no development requirements, no stage"


@pytest.mark.parametrize("case", ALL_CASES)
def test_no_secrets(rendered: dict[str, Path], case: str) -> None:
    text = (rendered[case] / "Dockerfile").read_text()
    assert "BEGIN CERTIFICATE" not in text and "PRIVATE KEY" not in text
    parsed = parse(text)
    for stage in parsed.stages.values():
        for instruction in stage.instructions:
            if instruction.name in ("ENV", "ARG"):
                assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\w*=", instruction.args, re.IGNORECASE)
            if instruction.name in ("COPY", "ADD"):
                assert ".env" not in instruction.args.split()
    ignore = (rendered[case] / ".dockerignore").read_text().splitlines()
    assert ignore.index("**/.env") > max(
        i for i, line in enumerate(ignore) if line.startswith("!") and "env" not in line
    ), ".env files stay out even where the copied paths are re-included"


@pytest.mark.parametrize("case", ALL_CASES)
def test_dockerignore_keeps_what_the_dockerfile_copies(rendered: dict[str, Path], case: str) -> None:
    ignore = (rendered[case] / ".dockerignore").read_text()
    assert ignore.startswith("#\n# Ansible managed\n#\n")
    lines = ignore.splitlines()
    variables = case_vars(case)
    for path in [variables["app_image_requirements_file"]] + [p for p in variables["app_image_app_paths"] if p != "."]:
        assert f"!{path}" in lines
    for pattern in variables["app_image_dockerignore_extra"]:
        assert pattern in lines
    assert ".git" in lines and "**/__pycache__" in lines


@pytest.mark.parametrize("case", ALL_CASES)
def test_hadolint(rendered: dict[str, Path], case: str) -> None:
    binary = hadolint()
    if not binary:
        pytest.skip("hadolint is not installed here (the lint tier runs it)")
    proc = subprocess.run(
        [binary, str(rendered[case] / "Dockerfile")], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "overrides, hint",
    [
        ({"app_image_targets": ["api", "workers"]}, "app_image_targets must name"),
        ({"app_image_targets": []}, "app_image_targets must name"),
        ({"app_image_uid": 0}, "must not be 0"),
    ],
)
def test_bad_input_fails_with_a_hint(tmp_path: Path, overrides: dict[str, t.Any], hint: str) -> None:
    with pytest.raises(RuntimeError, match=hint):
        render_shapes.render(tmp_path, {"bad": render_shapes.Case(None, overrides)})


def builder_run(rendered: dict[str, Path], case: str) -> str:
    return " ".join(i.args for i in dockerfile(rendered, case).stages["builder"].instructions)


def test_a_uv_project_installs_what_its_lock_pins_and_the_project(rendered: dict[str, Path]) -> None:
    builder = dockerfile(rendered, "uv_project").stages["builder"]
    copies = [i.args for i in builder.instructions if i.name == "COPY"]
    assert copies[0] == "pyproject.toml uv.lock ./"
    text = builder_run(rendered, "uv_project")
    assert "/opt/uv/bin/pip install --no-cache-dir uv==0.13.8" in text
    assert (
        "uv export --frozen --no-dev --no-emit-project --format requirements-txt --output-file requirements.lock"
        in text
    )
    assert "pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock" in text  # hashes checked
    # The project: its own wheel, without dependencies (the lock's are installed), into the virtualenv.
    assert copies[-1] == ". /src/"
    assert "--no-deps --wheel-dir /project /src" in text and "--find-links /wheels --no-deps /project/*.whl" in text
    assert "requirements.txt ./" not in " ".join(copies)
    # uv stays in the builder: no other stage copies /opt/uv.
    assert "/opt/uv" not in (rendered["uv_project"] / "Dockerfile").read_text().split("FROM base AS runtime")[1]
    # Flower's constraints come from pip list (a project installed from a wheel is a URL in pip freeze).
    flower = " ".join(i.args for i in dockerfile(rendered, "uv_project").stages["flower-wheels"].instructions)
    assert "pip list --format=freeze > /wheels-flower/constraints.txt" in flower


def test_a_poetry_project_installs_what_its_lock_pins_and_the_project(rendered: dict[str, Path]) -> None:
    builder = dockerfile(rendered, "poetry_project").stages["builder"]
    copies = [i.args for i in builder.instructions if i.name == "COPY"]
    assert copies[0] == "pyproject.toml poetry.lock gpu.txt ./"
    text = " ".join(builder_run(rendered, "poetry_project").split())  # one space between words
    assert (
        "python -m venv /opt/poetry && /opt/poetry/bin/pip install --no-cache-dir poetry==2.5.1"
        " poetry-plugin-export==1.10.1" in text
    )
    export = "/opt/poetry/bin/poetry export --no-interaction --only main --format requirements.txt"
    assert f"{export} --output requirements.lock && {export} --without-hashes --output requirements.txt" in text
    assert "pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock" in text  # hashes checked
    assert 'set -- -r requirements.txt && if [ "$ENABLE_GPU" = true ]; then set -- "$@" -r gpu.txt; fi' in text
    # A package (a [build-system], no package-mode = false): its own wheel, without dependencies.
    assert copies[-1] == ". /src/" and "--find-links /wheels --no-deps /project/*.whl" in text
    # Poetry stays in the builder: no other stage has /opt/poetry.
    assert "/opt/poetry" not in (rendered["poetry_project"] / "Dockerfile").read_text().split("FROM base AS runtime")[1]
    flower = " ".join(i.args for i in dockerfile(rendered, "poetry_project").stages["flower-wheels"].instructions)
    assert "pip list --format=freeze > /wheels-flower/constraints.txt" in flower


@pytest.mark.parametrize(
    "case, source", [("pdm_project", ""), ("pdm_project_offline", "--no-index --find-links /wheelhouse ")]
)
def test_a_pdm_project_installs_what_its_lock_pins(rendered: dict[str, Path], case: str, source: str) -> None:
    builder = dockerfile(rendered, case).stages["builder"]
    copies = [i.args for i in builder.instructions if i.name == "COPY"]
    assert copies[-1] == "pyproject.toml pdm.lock ./"
    text = " ".join(builder_run(rendered, case).split())  # one space between words
    # Offline, PDM comes from the wheelhouse like every package; its export reads only the lock.
    assert f"/opt/pdm/bin/pip install --no-cache-dir {source}pdm==2.29.4" in text
    export = "PDM_CHECK_UPDATE=false /opt/pdm/bin/pdm export --prod --format requirements"
    assert f"{export} --output requirements.lock && {export} --no-hashes --output requirements.txt" in text
    assert f"pip wheel --no-cache-dir {source}--wheel-dir /wheels -r requirements.lock" in text
    # distribution = false: no package, so the project is not installed (its code is still copied to the workdir).
    assert ". /src/" not in copies and "/project/" not in text
    assert "/opt/pdm" not in (rendered[case] / "Dockerfile").read_text().split("FROM base AS runtime")[1]


@pytest.mark.parametrize(
    "case, lock, check, relock",
    [
        ("uv_project", "uv.lock", "/opt/uv/bin/uv lock --check --offline", "uv lock"),
        ("poetry_project", "poetry.lock", "/opt/poetry/bin/poetry check --lock --no-interaction", "poetry lock"),
        ("pdm_project_offline", "pdm.lock", "PDM_CHECK_UPDATE=false /opt/pdm/bin/pdm lock --check", "pdm lock"),
    ],
)
def test_a_lock_that_no_longer_matches_stops_the_build_before_its_export(
    rendered: dict[str, Path], case: str, lock: str, check: str, relock: str
) -> None:
    instructions = dockerfile(rendered, case).stages["builder"].instructions
    tool = relock.split()[0]
    install = next(n for n, i in enumerate(instructions) if f"/opt/{tool}/bin/pip install" in i.args)
    copy = next(
        n for n, i in enumerate(instructions) if i.name == "COPY" and i.args.startswith(f"pyproject.toml {lock}")
    )
    # The tool's own layer comes before the lock is copied: a change of the dependencies does not install it again.
    assert instructions[install].name == "RUN" and install < copy
    deps = " ".join(instructions[copy + 1].args.split())
    # The tool's own check (offline: it reads pyproject.toml and the lock) comes first; its failure names the lock
    # and what makes it match, and stops the build before anything is exported from it.
    assert deps.startswith(f"{{ {check} || {{ echo 'app_image: {lock} does not match pyproject.toml ("), deps
    assert (
        f'run "{relock}" in the project, commit {lock} and deploy again; nothing is built from a stale lock\' >&2; '
        "exit 1; }; } && " in deps
    )
    assert deps.index(check) < deps.index(f"/opt/{tool}/bin/{tool} export")


def test_a_project_without_a_lock_is_installed_with_pip(rendered: dict[str, Path]) -> None:
    text = builder_run(rendered, "pip_project")
    assert "/opt/uv" not in text
    # Only the GPU file is copied before the project.
    copies = [i.args for i in dockerfile(rendered, "pip_project").stages["builder"].instructions if i.name == "COPY"]
    assert copies == ["gpu.txt ./", ". /src/"]
    assert 'if [ "$ENABLE_GPU" = true ]; then /opt/venv/bin/pip wheel' in text
    assert "/opt/venv/bin/pip wheel --no-cache-dir --find-links /wheels --wheel-dir /wheels /project/*.whl" in text
    assert text.endswith("/opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels /project/*.whl")


@pytest.mark.parametrize("case", ALL_CASES)
def test_the_code_directory_is_importable_from_the_virtualenv(rendered: dict[str, Path], case: str) -> None:
    workdir = case_vars(case)["app_image_workdir"]
    assert f'echo {workdir} > "$(/opt/venv/bin/python -c' in builder_run(rendered, case)
    assert "aistack-workdir.pth" in builder_run(rendered, case)
