"""List pagination: DRF's limit/offset, refusing bad values instead of ignoring them."""

from rest_framework import exceptions, pagination

MAX_OFFSET = 2**63 - 1


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
