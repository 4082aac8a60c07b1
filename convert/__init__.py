"""The conversion layer: any logo file (raster, SVG, data: URI text) -> one deterministic RGBA PNG, or a
ConvertError with a reason; below the crawler and beside nothing else.

``to_png`` is the entry point (``convert.topng`` has the reason codes); ``convert.pool`` runs it in killable
worker processes under a deadline and memory limit, ``convert.importer`` turns a folder of files into a data
folder. The crawler's extraction also reads data: URIs, sniffs formats and parses inline SVG through the names
below.
"""

from convert.formats import MIME_TYPES, magic_format, parse_data_uri
from convert.svg import parse_svg
from convert.topng import MAX_INPUT_BYTES, Converted, check_png, to_png

__all__ = ["MAX_INPUT_BYTES", "MIME_TYPES", "Converted", "check_png", "magic_format", "parse_data_uri", "parse_svg", "to_png"]
