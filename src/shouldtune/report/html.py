"""report.html: one self-contained page (inline styles, pictures as data: URIs, no script).

Every piece of text from the data reaches the page through Jinja's autoescaping; the
pictures are SVG documents inside <img> elements, where no script can run, and the page's
Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from shouldtune.report.view import build_view


def _data_uri(svg: str | None) -> str | None:
    if svg is None:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def render_html(results: Mapping[str, Any]) -> str:
    """Return report.html for a results.json document."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    from shouldtune.report import plots

    view = build_view(results)
    pictures = {
        "curves": _data_uri(plots.learning_curves_svg(results)),
        "cost": _data_uri(plots.quality_cost_svg(results, view.pareto)),
        "confusions": [_data_uri(plots.confusion_svg(c)) for c in view.confusions],
    }
    environment = Environment(
        loader=PackageLoader("shouldtune.report", "templates"),
        autoescape=True,  # every value is escaped unless marked safe; nothing here is
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(view=view, plots=pictures)
