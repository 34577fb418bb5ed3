"""TradingAccount.config_token, and the triggers that change it on every insert, update or
delete of a row of trading_strategy, trading_universe or risk_configversion, whatever makes
the write (a service, the admin, a queryset update, raw SQL, another process). The engine
keeps an account's strategies, universe and active policy per process while the token it
reads in its tick's account row lock is the one it loaded them under.

A random token rather than a counter: SQLite reuses the primary key of a deleted (or rolled
back) account, and a counter would then start again at the same value. And no token ever
comes back: an UPDATE of the account row that changes the token (a full save() of an account
read before a config change writes the old token back) gets a fresh one instead, so a
process that kept the config under the old token reads it again.

SQLite drops a table's triggers when a migration remakes the table (AlterField on SQLite):
tests/trading/test_engine_config_cache.py fails if that happens, and the triggers must then
be created again by that migration."""

from django.db import migrations, models

import trading.models

TABLES = ("trading_strategy", "trading_universe", "risk_configversion")

POSTGRES = """
CREATE OR REPLACE FUNCTION trading_config_token_touch() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE trading_tradingaccount SET config_token = md5(random()::text || clock_timestamp()::text)
        WHERE id = OLD.account_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.account_id IS DISTINCT FROM OLD.account_id) THEN
        UPDATE trading_tradingaccount SET config_token = md5(random()::text || clock_timestamp()::text)
        WHERE id = NEW.account_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION trading_config_token_fresh() RETURNS trigger AS $$
BEGIN
    IF NEW.config_token IS DISTINCT FROM OLD.config_token THEN
        NEW.config_token := md5(random()::text || clock_timestamp()::text);
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trading_tradingaccount_config_token BEFORE UPDATE ON trading_tradingaccount
FOR EACH ROW EXECUTE FUNCTION trading_config_token_fresh();
""" + "".join(
    f"CREATE TRIGGER {t}_config_token AFTER INSERT OR UPDATE OR DELETE ON {t} "
    "FOR EACH ROW EXECUTE FUNCTION trading_config_token_touch();\n"
    for t in TABLES
)
POSTGRES_DROP = "".join(f"DROP TRIGGER IF EXISTS {t}_config_token ON {t};\n" for t in TABLES) + (
    "DROP FUNCTION IF EXISTS trading_config_token_touch();\n"
    "DROP TRIGGER IF EXISTS trading_tradingaccount_config_token ON trading_tradingaccount;\n"
    "DROP FUNCTION IF EXISTS trading_config_token_fresh();\n"
)

TOKEN = "lower(hex(randomblob(16)))"
SQLITE = [
    # SQLite cannot change NEW in a BEFORE trigger: the token written is replaced right after
    # (recursive triggers are off, so this trigger's own UPDATE does not fire it again).
    "CREATE TRIGGER trading_tradingaccount_config_token AFTER UPDATE OF config_token ON trading_tradingaccount "
    "WHEN NEW.config_token IS NOT OLD.config_token BEGIN "
    f"UPDATE trading_tradingaccount SET config_token = {TOKEN} WHERE id = NEW.id; END",
] + [
    sql
    for t in TABLES
    for sql in (
        f"CREATE TRIGGER {t}_config_token_ins AFTER INSERT ON {t} BEGIN "
        f"UPDATE trading_tradingaccount SET config_token = {TOKEN} WHERE id = NEW.account_id; END",
        f"CREATE TRIGGER {t}_config_token_upd AFTER UPDATE ON {t} BEGIN "
        f"UPDATE trading_tradingaccount SET config_token = {TOKEN} WHERE id IN (OLD.account_id, NEW.account_id); END",
        f"CREATE TRIGGER {t}_config_token_del AFTER DELETE ON {t} BEGIN "
        f"UPDATE trading_tradingaccount SET config_token = {TOKEN} WHERE id = OLD.account_id; END",
    )
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {t}_config_token_{op}" for t in TABLES for op in ("ins", "upd", "del")] + [
    "DROP TRIGGER IF EXISTS trading_tradingaccount_config_token"
]


def _run(schema_editor, statements) -> None:
    for sql in statements:
        schema_editor.execute(sql)


def triggers_create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, [POSTGRES])
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE)
    else:
        raise NotImplementedError(f"config_token triggers for {vendor}")


def triggers_drop(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, [POSTGRES_DROP] if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0014_fees_fill_fee_quote"),
        ("risk", "0009_alert_type_unknown_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="tradingaccount",
            name="config_token",
            field=models.CharField(
                default=trading.models.config_token_new,
                editable=False,
                help_text="Changed by database triggers on every write to the account's strategies, universe "
                "or risk config versions, whoever makes it: the engine keeps those per process while it is "
                "unchanged.",
                max_length=32,
            ),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
