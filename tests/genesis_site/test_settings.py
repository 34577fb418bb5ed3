import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from genesis_site.settings.env import env_bool, env_number
from tests.e2e.procs import ROOT


def prod_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY",)}
    env.update(DJANGO_SETTINGS_MODULE="genesis_site.settings.prod", **extra)
    return env


def test_production_settings_pass_check_deploy_at_warning_level(tmp_path):
    env = prod_env(DJANGO_SECRET_KEY="k" * 20 + "-not-used-anywhere-" + "x9" * 20, GENESIS_VAR_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=prod_env(GENESIS_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "DJANGO_SECRET_KEY must be set" in done.stderr


def test_malformed_environment_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("GENESIS_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="GENESIS_X='maybe' is not a boolean"):
        env_bool("GENESIS_X")
    monkeypatch.setenv("GENESIS_X", "0.01")
    with pytest.raises(ImproperlyConfigured, match=r"must be at least 0\.1"):
        env_number("GENESIS_X", 2.0, cast=float, minimum=0.1)
