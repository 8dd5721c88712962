from django import template

from web.navigation import navigation_for

register = template.Library()


@register.inclusion_tag("web/_nav.html", takes_context=True)
def main_navigation(context):
    request = context["request"]
    links = [(entry, request.path.startswith(entry.url)) for entry in navigation_for(request.user)]
    return {"links": links, "user": request.user}
