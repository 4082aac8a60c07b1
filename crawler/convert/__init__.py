"""Any logo file (raster, SVG, data: URI text) -> one deterministic RGBA PNG, or a ConvertError with a reason.

The one entry point is ``to_png`` (see ``crawler.convert.topng`` for the reason codes).
"""

from crawler.convert.topng import MAX_INPUT_BYTES, Converted, to_png

__all__ = ["MAX_INPUT_BYTES", "Converted", "to_png"]
