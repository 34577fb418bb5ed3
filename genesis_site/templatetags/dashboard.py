"""Small template helpers of the dashboard: UTC times (local time on hover), money figures
and the one way a control button is drawn (enabled, or disabled with the reason why)."""

import datetime
from decimal import ROUND_DOWN, Decimal

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def utc(value):
    """A <time> in UTC; the page's script adds the reader's local time as its title."""
    if not value:
        return "—"
    if isinstance(value, str):  # an ISO timestamp from a JSON report
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    value = value.astimezone(datetime.UTC) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" data-utc title="UTC">{}</time>', value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S")
    )


@register.filter
def money(value, places: int = 2):
    """A Decimal with thousands separators, to `places` decimals; a dash when empty."""
    if value is None or value == "":
        return "—"
    quantum = Decimal(1).scaleb(-int(places))
    return f"{Decimal(value).quantize(quantum):,}"


@register.simple_tag(takes_context=True)
def control(context, action, url, label, *, fields="reason", confirm="", danger=False, extra_class=""):
    """A control button. `fields` is what the confirmation dialog asks: reason (required),
    comment (optional) or pause (reason, optional symbol and minutes). Without the permission
    the button is disabled and says why, on hover and to screen readers."""
    permission = context["may"][action]
    classes = " ".join(c for c in ("btn", "danger" if danger else "", extra_class) if c)
    if not permission["allowed"]:
        return format_html(
            '<button type="button" class="{}" disabled aria-disabled="true" title="{}" data-denied="{}">'
            '{}<span class="sr-only"> (not allowed: {})</span></button>',
            classes,
            permission["why"],
            action,
            label,
            permission["why"],
        )
    return format_html(
        '<button type="button" class="{}" data-control data-url="{}" data-title="{}" data-confirm="{}" '
        'data-fields="{}" data-danger="{}">{}</button>',
        classes,
        url,
        label,
        confirm,
        fields,
        "1" if danger else "",
        label,
    )


@register.filter
def share_pct(value):
    """A share (0.03) as a percentage to a tenth ("3 %", "2.5 %")."""
    if value is None:
        return "—"
    percent = (Decimal(str(value)) * 100).quantize(Decimal("0.1"))
    return f"{format(percent.normalize(), 'f')} %"


@register.filter
def ratio_pct(value):
    """A ratio near 1 as a percentage to a thousandth, without rounding 99.95 % up to 100 %
    ("99.95 %", "50 %", "-12.5 %")."""
    if value is None:
        return "—"
    percent = (Decimal(str(value)) * 100).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    return f"{format(percent.normalize(), 'f')} %"


@register.filter
def burn(value):
    """A burn rate as a multiple of the sustainable rate ("0.5×", "14.4×")."""
    if value is None:
        return "—"
    return f"{format(Decimal(str(value)).quantize(Decimal('0.01'), rounding=ROUND_DOWN).normalize(), 'f')}×"
