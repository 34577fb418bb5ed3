"""Fernet encryption at rest for webhook URLs, routing keys and other secrets (SPEC S2).

Keys come from GENESIS_FERNET_KEYS (comma-separated, newest first): MultiFernet encrypts with
the first and decrypts with any, so a new key is rolled out by prepending it, re-encrypting,
then dropping the old one. Development and test settings fall back to a key generated once
under var/; production has no default and fails loudly.
"""

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_DEV_SETTINGS = ("genesis_site.settings.dev", "genesis_site.settings.test")


class SecretDecryptError(Exception):
    """A token that no configured key decrypts: tampered, truncated, or from another key set."""


def _dev_key_path() -> Path:
    return Path(settings.VAR_DIR) / "fernet_key"


def _dev_key() -> str:
    path = _dev_key_path()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # O_EXCL: two processes starting together must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def fernet_keys() -> list[str]:
    """The configured keys, newest first."""
    raw = getattr(settings, "GENESIS_FERNET_KEYS", None) or os.environ.get("GENESIS_FERNET_KEYS", "")
    if isinstance(raw, str):
        raw = raw.split(",")
    keys = [key.strip() for key in raw if key and key.strip()]
    if keys:
        return keys
    # override_settings (tests) hides SETTINGS_MODULE; the environment still names it.
    module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE")
    if module in _DEV_SETTINGS:
        return [_dev_key()]
    raise ImproperlyConfigured("GENESIS_FERNET_KEYS must be set in the environment (comma-separated, newest first)")


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in fernet_keys()])
    except ValueError:
        # Never echo the key material itself.
        raise ImproperlyConfigured(
            "GENESIS_FERNET_KEYS holds a malformed key (need url-safe base64, 32 bytes)"
        ) from None


def encrypt(text: str) -> str:
    """Ciphertext of `text` under the newest key, as ASCII text for a TextField."""
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """Plaintext of `token`; raises SecretDecryptError rather than ever returning ciphertext."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeError):
        raise SecretDecryptError("secret cannot be decrypted with the configured GENESIS_FERNET_KEYS") from None


def rotate(token: str) -> str:
    """Re-encrypt `token` under the newest key (for a key rotation command)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptError("secret cannot be decrypted with the configured GENESIS_FERNET_KEYS") from None


ENCRYPTED_SUFFIX = "_encrypted"


def encrypted_fields() -> list[tuple[type, list[str]]]:
    """Every model and its fields holding Fernet ciphertext: by convention, text fields whose
    name ends in `_encrypted`. `rotate_keys` re-encrypts exactly these."""
    from django.apps import apps
    from django.db import models

    found = []
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.TextField) and f.name.endswith(ENCRYPTED_SUFFIX)
        ]
        if names:
            found.append((model, names))
    return found


def primary_only_decrypts(token: str) -> bool:
    """Whether the newest key alone decrypts `token` (then older keys can be dropped)."""
    try:
        Fernet(fernet_keys()[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
