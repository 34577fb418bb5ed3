"""List pagination: DRF's limit/offset, refusing bad values instead of ignoring them."""

from django.db.models import F, Func, IntegerField, Subquery
from django.db.models.query import ValuesIterable
from rest_framework import exceptions, pagination

MAX_OFFSET = 2**63 - 1
_TOTAL = "_page_total"


def count_fits_in_page(queryset) -> bool:
    """A plain values() list: its count can ride along as a column of the page's own query."""
    query = getattr(queryset, "query", None)
    return (
        query is not None
        and queryset._iterable_class is ValuesIterable
        and not query.distinct
        and query.group_by is None
        and not query.combinator
        and not query.is_sliced
        and _TOTAL not in query.annotations
    )


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`limit` and `offset` as DRF documents them, but a value that is not a whole number in
    range is a 400 naming the parameter (DRF silently falls back to the defaults, so a typo
    such as `offset=1O` returned the first page)."""

    max_limit = 1000

    def _whole(self, request, name: str, default: int | None, minimum: int, maximum: int) -> int | None:
        raw = request.query_params.getlist(name)
        if not raw:
            return default
        if len(raw) > 1:
            raise exceptions.ValidationError({name: ["Give it once."]})
        try:
            value = int(raw[0], 10)
        except ValueError:
            raise exceptions.ValidationError({name: ["A whole number is required."]}) from None
        if not minimum <= value <= maximum:
            raise exceptions.ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
        return value

    def paginate_queryset(self, queryset, request, view=None):
        """As DRF's, but for a values() list the count comes with the page: one query, with
        the count as an uncorrelated scalar subquery (PostgreSQL runs it once, as DRF's own
        COUNT), instead of a second ORM query and round trip. Past the end (no rows to carry
        it) the count is asked for on its own, as DRF does."""
        if not count_fits_in_page(queryset):
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        return self.page_rows(list(self.page_query(queryset)), queryset)

    def page_query(self, queryset):
        """The values() page at self.offset and self.limit, each row carrying the count."""
        total = queryset.order_by().values(**{_TOTAL: Func(F("pk"), function="COUNT")})
        page = queryset.annotate(**{_TOTAL: Subquery(total, output_field=IntegerField())})
        return page[self.offset : self.offset + self.limit]

    def page_rows(self, rows: list[dict], queryset) -> list[dict]:
        """The rows of page_query(queryset), the count taken off them into self.count (asked
        of `queryset` on its own when there are no rows to carry it)."""
        self.count = rows[0][_TOTAL] if rows else self.get_count(queryset)
        for row in rows:
            del row[_TOTAL]
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_limit(self, request):
        return self._whole(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._whole(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters
