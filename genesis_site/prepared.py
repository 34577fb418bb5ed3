"""Statements the ORM compiles once per process and shape, then runs with other values.

On the reference machine the ORM spends 1-3 ms of CPU building and compiling a statement that
PostgreSQL answers in a fraction of that; for the hottest reads (the status's account, the
API's lists) that was most of a request. A Prepared keeps only the SQL and how to read its
columns, never a row: the queryset is built once with sentinel values in place of the
per-request ones, compiled, and each sentinel's place among the statement's parameters noted.
Values the ORM would transform on their way into SQL (an `icontains` pattern, a datetime)
cannot be sentinels: such a shape is refused (Unpreparable) and its callers use the ORM.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db import connection
from django.db.models import QuerySet

MAX_KEPT = 512  # shapes per process; the cache starts over past it


class Unpreparable(Exception):
    pass


def sentinel(kind: type, n: int):
    """The n-th stand-in value of `kind` (int or str). Integers stay inside a 32-bit positive
    field's range, where the ORM would otherwise compile a lookup to "nothing matches"."""
    return 2_147_480_000 + n if kind is int else f"\x1fprepared-slot-{n}\x1f"


@dataclass(frozen=True)
class Prepared:
    sql: str
    slots: tuple  # per parameter: the name of the value it takes, or None for a constant
    constants: tuple  # per parameter: the constant (where its slot is None)
    columns: tuple  # the selected expressions, in order
    names: tuple  # their names: values() keys, or model attribute names
    converters: tuple  # per column, the ORM's converters for it on this backend

    @classmethod
    def compile(cls, queryset: QuerySet, sentinels: dict[str, object]) -> "Prepared":
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        by_value = {(type(v), v): name for name, v in sentinels.items()}
        slots = tuple(by_value.get((type(p), p)) for p in params)
        markers = [v for v in sentinels.values() if isinstance(v, str)]
        for param, slot in zip(params, slots, strict=True):
            if slot is None and isinstance(param, str) and any(m in param for m in markers):
                raise Unpreparable(f"a value is transformed on its way into SQL: {param!r}")
        if missing := set(sentinels) - set(slots):
            # Compiled away or transformed: the statement would not take that value.
            raise Unpreparable(f"no parameter takes {sorted(missing)}")
        columns = tuple(col for col, _, _ in compiler.select)
        names = tuple(alias or col.target.attname for col, _, alias in compiler.select)
        converters = tuple(
            tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection)) for col in columns
        )
        return cls(sql, slots, tuple(params), columns, names, converters)

    def rows(self, values: dict[str, object]) -> list[list]:
        """The statement's rows with `values` in its slots, each value converted as the ORM does."""
        params = [c if s is None else values[s] for s, c in zip(self.slots, self.constants, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        convert = [(i, self.columns[i], c) for i, c in enumerate(self.converters) if c]
        out = []
        for row in rows:
            row = list(row)
            for i, column, converters in convert:
                for converter in converters:
                    row[i] = converter(row[i], column, connection)
            out.append(row)
        return out


_kept: dict[tuple, Prepared | None] = {}


def prepared(key: tuple, build: Callable[[], tuple[QuerySet, dict[str, object]]]) -> Prepared | None:
    """The statement for `key` (a shape: what decides the SQL's text), compiled from the
    queryset and sentinels `build()` returns the first time; None for a shape that cannot be
    prepared (remembered too)."""
    key = (connection.alias, *key)
    try:
        return _kept[key]
    except KeyError:
        pass
    if len(_kept) >= MAX_KEPT:
        _kept.clear()
    try:
        queryset, sentinels = build()
        statement = Prepared.compile(queryset, sentinels)
    except (Unpreparable, EmptyResultSet, FullResultSet, ValidationError, ValueError, TypeError):
        # The stand-ins were refused or compiled away (a field that converts or range-checks
        # its value): the ORM path, which gives the real value its real answer or error.
        statement = None
    _kept[key] = statement
    return statement


def prepared_objects(key: tuple, model, query: Callable[[dict], QuerySet], values: dict) -> list:
    """The `model` instances (Model.from_db, as the ORM makes them) that `query(values)` selects:
    a queryset of whole `model` rows, compiled once per process for `key` with sentinels in
    place of `values` and run with them; a shape that cannot be prepared runs through the ORM."""

    def build():
        slots = {name: sentinel(type(value), n) for n, (name, value) in enumerate(values.items())}
        return query(slots), slots

    statement = prepared(key, build)
    if statement is None:
        return list(query(values))
    return [model.from_db(connection.alias, statement.names, row) for row in statement.rows(values)]
