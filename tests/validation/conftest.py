import dataclasses
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from validation.criteria import criteria_load
from validation.validators import REGISTRY
from validation.validators.base import Context


@pytest.fixture(scope="session")
def loaded():
    return criteria_load()


def make_ctx(loaded, *, mode="quick", base_dir=None, account_id=None, **sections) -> Context:
    """A Context whose criteria sections can be replaced, e.g. database={"query_p99_ms": 0.0001}."""
    criteria = loaded.criteria
    for section, values in sections.items():
        current = getattr(criteria, section)
        criteria = criteria.model_copy(update={section: current.model_copy(update=values)})
    return Context(
        criteria=criteria,
        mode_name=mode,
        base_dir=Path(base_dir or settings.BASE_DIR),
        account_id=account_id,
    )


def run_check(name, ctx):
    return REGISTRY[name]().run(ctx)


@pytest.fixture
def project_copy(tmp_path):
    """The ops files of the project in a scratch directory, to plant defects in."""
    base = Path(settings.BASE_DIR)
    shutil.copytree(base / "deploy", tmp_path / "deploy")
    return tmp_path


def with_mode(ctx: Context, **values) -> Context:
    mode = ctx.criteria.modes[ctx.mode_name].model_copy(update=values)
    modes = {**ctx.criteria.modes, ctx.mode_name: mode}
    return dataclasses.replace(ctx, criteria=ctx.criteria.model_copy(update={"modes": modes}))
