from .base import *  # noqa: F403
from .base import VAR_DIR
from .env import dev_secret_key, env_str

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or dev_secret_key(VAR_DIR)
GENESIS_AUDIT_HEAD_KEY = env_str("GENESIS_AUDIT_HEAD_KEY") or dev_secret_key(VAR_DIR, "audit_head_key")

# WhiteNoise serves from the finders in development; an existing (empty) root keeps it quiet.
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)
