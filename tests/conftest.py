import os

import pytest
from hypothesis import settings

# Performance is measured by bench/, not by timed tests: on the shared 2-core machines a
# per-example deadline only turns load into flaky failures.
settings.register_profile("genesis", deadline=None)
settings.load_profile("genesis")


def pytest_collection_modifyitems(config, items):
    """Tests that need real servers skip, with the reason, when the servers are not configured.
    CI always sets DATABASE_URL and REDIS_URL, so there they run."""
    have_pg = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    have_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        if "postgres" in item.keywords and not have_pg:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://..."))
        if "redis" in item.keywords and not have_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://..."))
        if "full_stack" in item.keywords and not (have_pg and have_redis):
            item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL"))
