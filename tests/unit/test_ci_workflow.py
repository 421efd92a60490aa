"""The docker runtime's CI workflow (.github/workflows/docker.yml) cannot run on the kit's
machines (no Docker Hub), so it is checked here with actionlint, built with Go from its pinned
module into the kit's cache once (as the kit builds toxiproxy), and read for what it must do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from linklab import network
from linklab.paths import PROJECT_ROOT, cache_dir, exclusive, staged

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "docker.yml"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "1.7.12"
COMPLETE = ".complete"


def actionlint() -> Path:
    """actionlint from the cache, built there once with `go install` (skip without Go)."""
    target = cache_dir() / f"actionlint-{ACTIONLINT_VERSION}"
    binary = target / "actionlint"
    if (target / COMPLETE).exists() and binary.exists():
        return binary
    go = network._go_binary()
    if not go:
        pytest.skip("Go is not installed: actionlint is built with `go install` (Go 1.21+)")
    with exclusive(target):
        if not (target / COMPLETE).exists():
            with staged(target) as staging:
                out = subprocess.run(
                    [go, "install", f"{ACTIONLINT_MODULE}@v{ACTIONLINT_VERSION}"],
                    env=dict(os.environ, GOBIN=str(staging)),
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                assert out.returncode == 0, out.stdout + out.stderr
                (staging / COMPLETE).write_text(ACTIONLINT_VERSION)
    return binary


def lint(path: Path) -> subprocess.CompletedProcess:
    # shellcheck and pyflakes off: whether they are installed must not change the verdict.
    return subprocess.run(
        [str(actionlint()), "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_passes_the_docker_workflow():
    out = lint(WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "docker.yml"
    broken.parent.mkdir(parents=True)
    # A matrix key misspelt in an expression: YAML and the shell accept it, actionlint not.
    broken.write_text(
        WORKFLOW.read_text().replace("${{ matrix.security }}", "${{ matrix.securty }}", 1)
    )
    out = lint(broken)
    assert out.returncode != 0 and "securty" in out.stdout, out.stdout


def test_the_workflow_pulls_the_pinned_images_and_runs_tests_and_the_drill_both_ways():
    flow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = flow["jobs"].values()
    assert job["strategy"]["matrix"]["security"] == ["none", "sasl_ssl"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'docker pull "confluentinc/cp-server:$tag"' in runs
    assert 'docker pull "confluentinc/cp-ksqldb-server:$tag"' in runs
    assert "confluent_platform" in runs  # the tag is read from the one pin, not repeated
    assert "invoke test --docker" in runs
    assert "invoke up demo --runtime docker" in runs and "invoke drill" in runs
