"""Printable QR labels as SVG sheets: each label carries a QR code (made by segno) of the thing's page,
with its serial or place and its kind underneath."""

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

import segno
from django.urls import reverse

from assets.models import Kind, Site
from assets.selectors import location_of_position
from stock.selectors import docks_of_site

QUIET_ZONE = 2  # modules of white around a QR code


@dataclass(frozen=True)
class Label:
    url: str
    title: str
    subtitle: str


@dataclass(frozen=True)
class Sheet:
    """A page of ``columns`` x ``rows`` labels; sizes in millimetres."""

    description: str
    width: float
    height: float
    columns: int
    rows: int


SHEETS = {
    "a4": Sheet("A4, 3 x 8 labels of 70 x 37 mm", 210, 297, 3, 8),
    "label": Sheet("label printer, one 62 x 29 mm label per page", 62, 29, 1, 1),
}


def _qr_path(url):
    """The dark modules of ``url``'s QR code as one SVG path, one unit per module, and the symbol's size."""
    matrix = [list(row) for row in segno.make(url, error="m").matrix_iter(border=QUIET_ZONE)]
    squares = "".join(
        f"M{x} {y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark
    )
    return squares, len(matrix)


def labels_svg(*, labels: list[Label], sheet: Sheet) -> str:
    """One SVG document holding as many sheets as the labels need, one under the other."""
    per_sheet = sheet.columns * sheet.rows
    sheets = max(math.ceil(len(labels) / per_sheet), 1)
    cell_width, cell_height = sheet.width / sheet.columns, sheet.height / sheet.rows
    qr_size = cell_height - 2
    total_height = sheet.height * sheets
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{sheet.width}mm" height="{total_height}mm" '
        f'viewBox="0 0 {sheet.width} {total_height}" font-family="sans-serif">'
    ]
    for index, label in enumerate(labels):
        page, slot = divmod(index, per_sheet)
        row, column = divmod(slot, sheet.columns)
        x, y = column * cell_width, page * sheet.height + row * cell_height
        path, modules = _qr_path(label.url)
        scale = qr_size / modules
        text_x = x + qr_size + 2
        parts.append(
            f'<g class="label"><path transform="translate({x + 1} {y + 1}) scale({scale:.4f})" d="{path}"/>'
            f'<text x="{text_x}" y="{y + cell_height / 2}" font-size="4" font-weight="bold">'
            f"{escape(label.title)}</text>"
            f'<text x="{text_x}" y="{y + cell_height / 2 + 5}" font-size="3">'
            f"{escape(label.subtitle)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def component_labels(*, components, absolute_url) -> list[Label]:
    """A label per component: a case links to its page, any other component to its admin page."""
    return [
        Label(
            url=absolute_url(
                reverse("web:case", args=[component.serial])
                if component.kind == Kind.CASE
                else reverse("admin:assets_component_change", args=[component.pk])
            ),
            title=component.serial,
            subtitle=Kind(component.kind).label,
        )
        for component in components
    ]


def dock_labels(*, site: Site, absolute_url) -> list[Label]:
    """A label per dock of the site's busbars, linking to the dock's field page."""
    return [
        Label(
            url=absolute_url(reverse("web:field-position", args=[dock.pk])),
            title=str(location_of_position(position=dock)),
            subtitle="Dock",
        )
        for dock in docks_of_site(site=site)
    ]
