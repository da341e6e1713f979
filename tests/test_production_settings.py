"""Production settings refuse unsafe configuration and pass Django's deployment checks."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_ENV = {
    "DJANGO_SETTINGS_MODULE": "mining_platform.settings.production",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "p" * 20 + "-production-key-with-enough-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "farm.example.com",
    "PATH": "/usr/bin:/bin",
}


def _manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**GOOD_ENV, **env_overrides}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
        ({"DJANGO_SECRET_KEY": "dev-insecure-change-me"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_settings_refuse_to_start_when_unsafe(override: dict[str, str], named: str) -> None:
    result = _manage("check", **override)

    assert result.returncode != 0
    assert "Production settings refused" in result.stderr
    assert named in result.stderr


def test_production_settings_pass_the_deployment_checks() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
