from django import template

register = template.Library()


@register.filter
def indicator(indicators, key):
    """The indicator with ``key`` of a health summary's list, or None."""
    return next((item for item in indicators if item["key"] == key), None)
