"""What a scanner typed into a serial box: a QR label (stock/labels.py) holds the address of a component's
page on this site, which names the component; any other text is the serial itself."""

from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve

from assets.models import Component


def serial_from_scan(text: str) -> str:
    """The serial ``text`` names: a case's page gives its Case id, a component's admin page its serial."""
    try:
        url = urlsplit(text)
    except ValueError:  # an address with a broken host, such as "http://[::1"
        return text
    host, _port = split_domain_port(url.netloc)
    if url.scheme not in ("http", "https") or not validate_host(host, settings.ALLOWED_HOSTS):
        return text
    try:
        match = resolve(unquote(url.path))
    except Resolver404:
        return text
    if match.view_name == "web:case":
        return match.kwargs["serial"]
    if match.view_name == "admin:assets_component_change" and match.kwargs["object_id"].isdigit():
        serial = Component.objects.filter(pk=match.kwargs["object_id"]).values_list("serial", flat=True)
        return serial.first() or text
    return text
