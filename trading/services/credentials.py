"""Exchange credentials (SPEC S2, T5): API key and secret Fernet-encrypted at rest, every
store and every read audited (with the key's fingerprint, never the key), never logged."""

import hashlib

from django.db import transaction

from compliance.services import Actor, audit_append
from genesis_site import secrets
from trading.models import ExchangeCredential, TradingAccount


class CredentialMissing(LookupError):
    pass


def credential_fingerprint(api_key: str) -> str:
    """A short stable name for an API key (rate budget key, display), not reversible."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def credential_store(
    *, account: TradingAccount, api_key: str, secret: str, actor: Actor, exchange_id: str = "binance", reason: str = ""
) -> ExchangeCredential:
    """Create or replace the account's credential, encrypted under the newest Fernet key."""
    if not api_key.strip() or not secret.strip():
        raise ValueError("api_key and secret: both are required and may not be blank")
    with transaction.atomic():
        credential, _ = ExchangeCredential.objects.update_or_create(
            account=account,
            defaults={
                "exchange_id": exchange_id,
                "api_key_encrypted": secrets.encrypt(api_key),
                "secret_encrypted": secrets.encrypt(secret),
                "fingerprint": credential_fingerprint(api_key),
            },
        )
        audit_append(
            actor=actor,
            action="credential.stored",
            obj=credential,
            payload={
                "account": account.pk,
                "exchange": exchange_id,
                "fingerprint": credential.fingerprint,
                "reason": reason,
            },
        )
    return credential


def credential_load(*, account_id: int, actor: Actor, purpose: str) -> tuple[ExchangeCredential, str, str]:
    """The credential row and its decrypted (api_key, secret); the access is audited.
    Raises CredentialMissing when the account has none, SecretDecryptError when the stored
    ciphertext does not decrypt (never returns ciphertext)."""
    with transaction.atomic():
        credential = ExchangeCredential.objects.filter(account_id=account_id).first()
        if credential is None:
            raise CredentialMissing(f"account {account_id} has no exchange credentials")
        api_key = secrets.decrypt(credential.api_key_encrypted)
        secret = secrets.decrypt(credential.secret_encrypted)
        audit_append(
            actor=actor,
            action="credential.accessed",
            obj=credential,
            payload={"account": account_id, "fingerprint": credential.fingerprint, "purpose": purpose},
        )
    return credential, api_key, secret


def credentials_rotate(*, actor: Actor) -> int:
    """Re-encrypt every exchange credential under the newest Fernet key (after a new key was
    prepended to GENESIS_FERNET_KEYS), so the old key can then be removed. Row by row under a
    lock, so sessions keep decrypting throughout; one audit event with the count."""
    rotated = 0
    for pk in ExchangeCredential.objects.values_list("pk", flat=True):
        with transaction.atomic():
            credential = ExchangeCredential.objects.select_for_update().get(pk=pk)
            credential.api_key_encrypted = secrets.rotate(credential.api_key_encrypted)
            credential.secret_encrypted = secrets.rotate(credential.secret_encrypted)
            credential.save(update_fields=["api_key_encrypted", "secret_encrypted", "updated_at"])
            rotated += 1
    with transaction.atomic():
        audit_append(actor=actor, action="credential.rotated", payload={"credentials": rotated})
    return rotated
