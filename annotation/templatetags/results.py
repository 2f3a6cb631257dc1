"""Number formats of the results pages: rates as percentages, means to two places, NaN as a dash."""

import math

from django import template

register = template.Library()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@register.filter
def stat(value, statistic: str = "mean") -> str:
    """A rate as "62.5%", a mean as "3.42"; a missing or undefined value as "—"."""
    if _missing(value):
        return "—"
    return f"{100 * float(value):.1f}%" if statistic == "rate" else f"{float(value):.2f}"


@register.filter
def signed_percent(value) -> str:
    """A relative change as "+28.1%" / "−4.0%"."""
    if _missing(value) or math.isinf(float(value)):
        return "—"
    return f"{100 * float(value):+.1f}%".replace("-", "−")
