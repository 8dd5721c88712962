"""DRF renderers. Kept apart from pms_site.drf: DRF imports them while loading its settings."""

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's HTML pages set inline styles in their templates and scripts: the Content Security Policy allows
    inline styles (never scripts) on these pages only."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": ["'unsafe-inline'"]}  # what csp.decorators.csp_update sets
        return super().render(data, accepted_media_type, renderer_context)
