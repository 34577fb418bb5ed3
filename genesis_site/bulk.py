"""Row writes for the hot paths (the engine tick, paper order batches, audit chain appends),
each statement's SQL built once per process and shape from the model's own fields.

The ORM builds and compiles every INSERT and UPDATE again on each call: on the reference
machine that CPU was most of an engine tick, several times what PostgreSQL spends on the rows
(bench/engine.py). These helpers write the same rows: every value is prepared by its field
exactly as the ORM prepares it for an INSERT or UPDATE (`pre_save`, then `get_db_prep_save`),
into SQL made from the model's table and column names and the backend's own quoting and
conflict clauses; only the SQL text is kept, keyed by (model, columns, rows, options). Like
`bulk_create` and `QuerySet.update`, they send no model signals: use them only for models
nothing listens to."""

import time

from django.db import DatabaseError, models, transaction
from django.db.models.constants import OnConflict

# Below this many rows (PostgreSQL) an INSERT is as cheap as COPY, and it returns primary keys.
COPY_FROM = 8

_kept: dict[tuple, str] = {}


def _sql(key: tuple, build, *args, **kwargs) -> str:
    """The SQL kept for `key`, built by build(*args, **kwargs) the first time."""
    sql = _kept.get(key)
    if sql is None:
        sql = _kept[key] = build(*args, **kwargs)
    return sql


def _value(field: models.Field, obj: models.Model, connection, *, add: bool):
    return field.get_db_prep_save(field.pre_save(obj, add), connection)


def rows_insert(
    model: type[models.Model], objs: list[models.Model], *, ignore_conflicts: bool = False, keys: bool = True
) -> None:
    """Insert `objs` (rows without a primary key yet) in one statement per batch. Each gets its
    primary key back (RETURNING), as from `bulk_create`, unless `keys=False` or
    `ignore_conflicts` (a row that conflicts with a unique constraint is skipped, and none
    gets a key). On PostgreSQL a batch of at least COPY_FROM rows goes through COPY with
    `keys=False`, which stores the same values at a fraction of the client CPU of an INSERT of
    that many, and else through `bulk_create`. Database triggers and constraints apply to COPY
    as to INSERT."""
    if not objs:
        return
    connection = transaction.get_connection()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    if any(obj.pk is not None for obj in objs):
        raise ValueError(f"rows_insert: {model.__name__} rows must not have a primary key yet")
    if connection.vendor == "postgresql" and len(objs) >= COPY_FROM:
        if not keys and not ignore_conflicts:
            _copy(connection, model, fields, objs)
        else:  # its UNNEST arrays cost less to send than as many rows of VALUES
            model.objects.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    returning = keys and not ignore_conflicts and connection.features.can_return_rows_from_bulk_insert
    batch = max(1, connection.ops.bulk_batch_size(fields, objs))
    for start in range(0, len(objs), batch):
        chunk = objs[start : start + batch]
        key = (connection.alias, model, "insert", len(chunk), ignore_conflicts, returning)
        sql = _sql(key, _insert_sql, connection, model, fields, len(chunk), ignore_conflicts, returning)
        params = [_value(f, obj, connection, add=True) for obj in chunk for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                pk = model._meta.pk
                for obj, (value,) in zip(chunk, cursor.fetchall(), strict=True):
                    obj.pk = pk.to_python(value)
                    obj._state.adding, obj._state.db = False, connection.alias


def _insert_sql(connection, model, fields, rows: int, ignore_conflicts: bool, returning: bool) -> str:
    ops, qn = connection.ops, connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"{ops.insert_statement(on_conflict=on_conflict)} {qn(model._meta.db_table)} "
        f"({', '.join(qn(f.column) for f in fields)}) VALUES {', '.join([row] * rows)}"
    )
    if ignore_conflicts:
        sql += " " + ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
    if returning:
        sql += f" RETURNING {qn(model._meta.pk.column)}"
    return sql


def _copy(connection, model, fields, objs) -> None:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"COPY {table} ({columns}) FROM STDIN"
    started = time.monotonic()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([_value(f, obj, connection, add=True) for f in fields])
    if connection.queries_logged:  # counted and shown like any statement (CaptureQueriesContext, DEBUG)
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(objs)} rows", "time": f"{time.monotonic() - started:.3f}"}
        )


def row_update(obj: models.Model, fields: list[str] | tuple[str, ...]) -> None:
    """UPDATE `obj`'s row (by primary key) with its values of `fields` (attribute names), as
    `obj.save(update_fields=fields)` writes them. DatabaseError if no row has that key."""
    model, connection = type(obj), transaction.get_connection()
    columns = [model._meta.get_field(name) for name in fields]

    def build() -> str:
        qn = connection.ops.quote_name
        assignments = ", ".join(f"{qn(f.column)} = %s" for f in columns)
        # Identifiers from the model, quoted by the backend; every value is a parameter.
        table, key = qn(model._meta.db_table), qn(model._meta.pk.column)
        return f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608

    sql = _sql((connection.alias, model, "update", tuple(fields)), build)
    params = [_value(f, obj, connection, add=False) for f in columns]
    params.append(model._meta.pk.get_db_prep_value(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{model.__name__} {obj.pk}: no row to update")


def row_save(obj: models.Model) -> None:
    """`obj.save()` for a model nothing listens to: an INSERT for a row without a primary key
    (which it then gets), else an UPDATE of every field."""
    if obj.pk is None:
        rows_insert(type(obj), [obj])
        return
    row_update(obj, [f.attname for f in obj._meta.concrete_fields if not f.primary_key])
