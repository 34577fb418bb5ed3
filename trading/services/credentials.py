"""Exchange credentials (SPEC S2): encrypted at rest, every access audited, never returned."""

from django.db import transaction

from compliance.services import Actor, audit_append
from genesis_site.secrets import decrypt, encrypt
from trading.exceptions import TradingError
from trading.models import ExchangeCredential, TradingAccount


class CredentialInvalid(TradingError):
    code = "credential_invalid"


def exchange_credential_set(
    *, account: TradingAccount, api_key: str, secret: str, actor: Actor, passphrase: str = "", label: str = ""
) -> ExchangeCredential:
    """Store (or replace) the account's credentials as ciphertext; audited without the values."""
    for field, value in (("api_key", api_key), ("secret", secret)):
        if not value or not value.strip():
            raise CredentialInvalid(f"{field}: required")
    with transaction.atomic():
        credential, created = ExchangeCredential.objects.update_or_create(
            account=account,
            defaults={
                "label": label,
                "api_key_encrypted": encrypt(api_key),
                "secret_encrypted": encrypt(secret),
                "passphrase_encrypted": encrypt(passphrase) if passphrase else "",
            },
        )
        audit_append(
            actor=actor,
            action="secret.stored",
            obj=credential,
            payload={"account": account.pk, "kind": "exchange_credential", "replaced": not created},
        )
    return credential


def exchange_credential_reveal(*, account_id: int, actor: Actor, purpose: str) -> dict[str, str]:
    """The plaintext credentials for the exchange adapter, audited with who and why. A value
    that no configured key decrypts raises SecretDecryptError; ciphertext is never returned."""
    with transaction.atomic():
        credential = ExchangeCredential.objects.get(account_id=account_id)
        audit_append(
            actor=actor,
            action="secret.accessed",
            obj=credential,
            payload={"account": account_id, "kind": "exchange_credential", "purpose": purpose},
        )
        return {
            "api_key": decrypt(credential.api_key_encrypted),
            "secret": decrypt(credential.secret_encrypted),
            "passphrase": decrypt(credential.passphrase_encrypted) if credential.passphrase_encrypted else "",
        }
