"""The words a logo shows, read with OCR (RapidOCR on onnxruntime: its wheel ships the text detection and
recognition models, so it runs offline). Grouping reads them only for the logos of undecided pairs
(search.textcheck) and keeps the reading in the payload (``text``), so each logo is read once.

A reading is ``{"text": str, "confidence": float, "lines": [str, ...], "boxes": [[x0, y0, x1, y1], ...]}``: the
recognised lines joined in reading order (top to bottom, then left to right), their mean confidence weighted by
length, and each line with its box.
An empty ``text`` means nothing legible was found, which is evidence of nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from indexer.preprocess import composite, load_logo

# Our logos are at most 512 px on their long side (convert.topng); OCR sees at most this many pixels a side.
OCR_SIDE = 1024
DET_SIDE = 480
_engine: Any = None
_engine_lock = threading.Lock()


def _ocr() -> Any:
    """One RapidOCR engine per process, built on first use (its models load in ~0.2 s)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            # Text detection with the short side brought to DET_SIDE pixels: RapidOCR's default, 736, ran a
            # 512 x 148 logo at 2,546 x 736 (0.67 s a logo); at 480 it reads every logo of the template fixture
            # (216 / 216) in 0.35 s; 320 lost 17 of them, "at most 736, never upscaled" 14 (docs/BENCHMARKS.md).
            _engine = RapidOCR(det_limit_type="min", det_limit_side_len=DET_SIDE)
        return _engine


def read_text(image: Image.Image) -> dict[str, Any]:
    """What the logo says (an RGBA picture, composited on the background its brightness calls for)."""
    flat, _background = composite(image.convert("RGBA"))
    rgb = flat.convert("RGB")
    if max(rgb.size) > OCR_SIDE:
        rgb.thumbnail((OCR_SIDE, OCR_SIDE), Image.Resampling.LANCZOS)
    found, _elapsed = _ocr()(np.asarray(rgb)[:, :, ::-1])  # the engine takes OpenCV's BGR
    lines = []
    for box, text, confidence in found or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        lines.append(([round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))], str(text).strip(),
                      float(confidence)))
    lines = _reading_order([line for line in lines if line[1]])
    weight = sum(len(text) for _box, text, _c in lines)
    confidence = sum(len(text) * c for _box, text, c in lines) / weight if weight else 0.0
    return {"text": " ".join(text for _box, text, _c in lines), "confidence": round(confidence, 4),
            "lines": [text for _box, text, _c in lines], "boxes": [box for box, _text, _c in lines]}


def _reading_order(lines: list) -> list:
    """Rows top to bottom (a line joins the row whose vertical centre is within half its height), each row
    left to right: "Vertex" before "Realty" whichever box the detector found first."""
    rows: list[list] = []
    for line in sorted(lines, key=lambda line: (line[0][1] + line[0][3]) / 2):
        box = line[0]
        centre, half = (box[1] + box[3]) / 2, max(box[3] - box[1], 1) / 2
        row = rows[-1] if rows else None
        if row is not None and abs(centre - (row[0][0][1] + row[0][0][3]) / 2) <= half:
            row.append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line[0][0])]


def read_logo_file(path: Path) -> dict[str, Any] | None:
    """The reading of one of our logo files; None when the file cannot be decoded."""
    try:
        return read_text(load_logo(path))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
