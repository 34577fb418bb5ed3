"""SPEC S2 / §10 secrets: exchange credentials encrypted at rest, rotation without losing any,
independence from SECRET_KEY, audited access, a bad token raises, nothing in a pg_dump."""

import os
import subprocess
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from compliance.models import AuditEvent
from compliance.services import Actor
from genesis_site.secrets import SecretDecryptError, decrypt, encrypt, encrypted_fields
from risk.models import AlertChannel
from trading.models import ExchangeCredential, TradingAccount
from trading.services.credentials import credential_fingerprint, credential_load, credential_store

pytestmark = pytest.mark.django_db
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
ADMIN = Actor("user", "secops")


def seed(n: int, prefix: str = "AKIA") -> dict[int, tuple[str, str]]:
    accounts = TradingAccount.objects.bulk_create(
        [TradingAccount(name=f"seed-{i}", starting_balance=Decimal(1000), cash_balance=Decimal(1000)) for i in range(n)]
    )

    plain = {a.pk: (f"{prefix}{a.pk:06d}KEYPLAINTEXT", f"SECRET-{a.pk:06d}-plaintext-value") for a in accounts}
    ExchangeCredential.objects.bulk_create(
        [
            ExchangeCredential(
                account_id=pk,
                api_key_encrypted=encrypt(k),
                secret_encrypted=encrypt(s),
                fingerprint=credential_fingerprint(k),
            )
            for pk, (k, s) in plain.items()
        ]
    )
    return plain


def test_the_rotation_covers_every_encrypted_field():
    found = {model._meta.label: fields for model, fields in encrypted_fields()}
    assert found["trading.ExchangeCredential"] == ["api_key_encrypted", "secret_encrypted"]
    assert found["risk.AlertChannel"] == ["url_encrypted", "routing_key_encrypted"]


def test_credentials_are_stored_encrypted_and_every_access_is_audited():
    account = TradingAccount.objects.create(name="a", starting_balance=1, cash_balance=1)
    with override_settings(GENESIS_FERNET_KEYS=NEW):
        credential_store(account=account, api_key="AKIA-visible", secret="s3cr3t-value", actor=ADMIN)
        row = ExchangeCredential.objects.get()
        assert "AKIA-visible" not in row.api_key_encrypted and "s3cr3t" not in row.secret_encrypted
        _, api_key, secret = credential_load(account_id=account.pk, actor=ADMIN, purpose="ccxt client")
    assert (api_key, secret) == ("AKIA-visible", "s3cr3t-value")
    access = AuditEvent.objects.get(action="credential.accessed")
    assert access.actor == "secops" and access.payload["purpose"] == "ccxt client"
    assert "s3cr3t" not in str(AuditEvent.objects.values_list("payload", flat=True))


@pytest.mark.slow
def test_rotating_many_credentials_keeps_all_readable_after_the_old_key_is_removed():
    with override_settings(GENESIS_FERNET_KEYS=OLD):
        plain = seed(1000)
        AlertChannel.objects.create(
            kind="slack",
            name="ops",
            url_encrypted=__import__("genesis_site.secrets").secrets.encrypt("https://hooks.example/T0/B0/x"),
        )
    with override_settings(GENESIS_FERNET_KEYS=f"{NEW},{OLD}"):
        with pytest.raises(CommandError, match="still need the older keys"):
            call_command("rotate_keys", "--verify")
        call_command("rotate_keys")
        call_command("rotate_keys", "--verify")
    with override_settings(GENESIS_FERNET_KEYS=NEW):
        for credential in ExchangeCredential.objects.all():
            assert (decrypt(credential.api_key_encrypted), decrypt(credential.secret_encrypted)) == plain[
                credential.account_id
            ]
        assert decrypt(AlertChannel.objects.get().url_encrypted) == "https://hooks.example/T0/B0/x"
    assert AuditEvent.objects.get(action="secret.rotated").payload["values"] == 2001


def test_a_value_under_an_unknown_key_raises_and_rotation_refuses_it():
    with override_settings(GENESIS_FERNET_KEYS=OLD):
        seed(3)
    with override_settings(GENESIS_FERNET_KEYS=NEW):
        with pytest.raises(SecretDecryptError):
            decrypt(ExchangeCredential.objects.first().api_key_encrypted)
        with pytest.raises(CommandError, match="does not decrypt with any configured key"):
            call_command("rotate_keys")


def test_rotating_django_secret_key_leaves_credentials_readable():
    with override_settings(GENESIS_FERNET_KEYS=NEW, SECRET_KEY="one-secret-key-" * 4):
        plain = seed(5)
    with override_settings(GENESIS_FERNET_KEYS=NEW, SECRET_KEY="another-secret-key-" * 4):
        for credential in ExchangeCredential.objects.all():
            assert decrypt(credential.secret_encrypted) == plain[credential.account_id][1]


def test_a_tampered_token_raises_instead_of_returning_ciphertext():
    with override_settings(GENESIS_FERNET_KEYS=NEW):
        seed(1)
        token = ExchangeCredential.objects.get().api_key_encrypted
        with pytest.raises(SecretDecryptError):
            decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_holds_none_of_100_seeded_api_keys():
    with override_settings(GENESIS_FERNET_KEYS=NEW):
        plain = seed(100, prefix="PGDUMPKEY")
    settings = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
            "-U",
            settings["USER"],
            "--data-only",
            settings["NAME"],
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "exchangecredential" in dump
    leaked = [k for pair in plain.values() for k in pair if k in dump]
    assert leaked == []
