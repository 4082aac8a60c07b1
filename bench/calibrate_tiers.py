"""Calibrate the near-identical and same-shape tiers on the real logos of ../shared/data/real-logos.

Positives: every real logo against variants of itself made here (JPEG, WebP, half and double size, padded,
cropped by 3 %, recoloured dark / light / hue-rotated). The near tier's colour check is calibrated on the
same pairs: the share of the near kinds it keeps, the share of recolours it hands on to the shape tier, and
the cross-family pairs within the near tier's hash distance that it keeps. Negatives: pairs of different real files whose
domains are not of one name family (the first label's leading word: aamco-bellevue.com -> aamco), so a
brand's own variants do not count as false merges. Prints, per tier and threshold, the recall of each
variant kind and the negative pairs within it (with the aspect-ratio check), and the closest negatives.

    python bench/calibrate_tiers.py --logos /tmp/real/logos     # PNGs of a `logosim import` of real-logos
"""

from __future__ import annotations

import argparse
import io
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.features import features  # noqa: E402
from indexer.preprocess import background_for, load_logo  # noqa: E402
from search import evidence, tiers  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-logos"


def _flat(image: Image.Image, fill=(255, 255, 255)) -> Image.Image:
    canvas = Image.new("RGBA", image.size, fill + (255,))
    canvas.alpha_composite(image)
    return canvas


def _encode(image: Image.Image, fmt: str, **kw) -> Image.Image:
    buffer = io.BytesIO()
    (image.convert("RGB") if fmt == "JPEG" else image).save(buffer, format=fmt, **kw)
    with Image.open(io.BytesIO(buffer.getvalue()), formats=[fmt]) as decoded:  # as the crawler's conversion
        decoded.load()
        return decoded.convert("RGBA")


def _resize(image: Image.Image, factor: float) -> Image.Image:
    size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _recolour(image: Image.Image, rgb: tuple[int, int, int] | None) -> Image.Image:
    """Every visible pixel to one colour (dark / light variants), or a 120-degree hue rotation (rgb None)."""
    pixels = np.array(image.convert("RGBA"))
    opaque = pixels[..., 3].min() == 255
    if opaque:  # an opaque logo: recolour what differs from its corner colour, keep the background
        corner = pixels[0, 0, :3].astype(int)
        visible = np.abs(pixels[..., :3].astype(int) - corner).max(axis=2) > 40
    else:
        visible = pixels[..., 3] > 0
    if rgb is None:
        hsv = np.array(Image.fromarray(pixels[..., :3], "RGB").convert("HSV"))
        hsv[..., 0] = (hsv[..., 0].astype(int) + 85) % 256
        pixels[visible, :3] = np.array(Image.fromarray(hsv, "HSV").convert("RGB"))[visible]
    else:
        pixels[visible, :3] = rgb
    out = Image.fromarray(pixels, "RGBA")
    if rgb == (255, 255, 255) and opaque:  # a light variant of an opaque logo sits on a dark box
        pixels[~visible, :3] = (20, 20, 20)
        out = Image.fromarray(pixels, "RGBA")
    return out


def _crop(image: Image.Image, share: float = 0.03) -> Image.Image:
    dx, dy = round(image.width * share), round(image.height * share)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


VARIANTS = {
    "jpeg": lambda im: _encode(_flat(im, background_for(im)), "JPEG", quality=70),
    "webp": lambda im: _encode(im, "WEBP", quality=75),
    "half": lambda im: _resize(im, 0.5),
    "double": lambda im: _resize(im, 2.0),
    "padded": lambda im: ImageOps.expand(im, border=max(4, im.width // 4), fill=(0, 0, 0, 0)),
    "crop3": _crop,
    "dark": lambda im: _recolour(im, (25, 25, 25)),
    "light": lambda im: _recolour(im, (255, 255, 255)),
    "hue": lambda im: _recolour(im, None),
}
NEAR_KINDS = ("jpeg", "webp", "half", "double", "padded", "crop3")
SHAPE_KINDS = NEAR_KINDS + ("dark", "light", "hue")


def same_family(domains: list[str]) -> np.ndarray:
    """Pairs whose first labels start alike (4 letters, or 3 when one is that short: kia.com / kiamotors.x)."""
    firsts = [re.sub(r"[^a-z]", "", d.split(".")[0].lower().split("-")[0]) for d in domains]
    p4, p3 = np.array([f[:4] for f in firsts]), np.array([f[:3] for f in firsts])
    short = np.array([len(f) <= 3 for f in firsts])
    return (p4[:, None] == p4[None, :]) | ((short[:, None] | short[None, :]) & (p3[:, None] == p3[None, :]))


def load(folder: Path, limit: int | None) -> tuple[list[str], list[Image.Image]]:
    files = sorted(folder.glob("*.png"))
    if limit:  # a seeded sample, not the alphabet's first (all aamco*)
        files = [files[i] for i in sorted(np.random.default_rng(0).permutation(len(files))[:limit])]
    domains, images = [], []
    for path in files:
        image = load_logo(path)
        if image.getchannel("A").getbbox() is None or min(image.size) < 8:
            continue
        domains.append(path.stem)
        images.append(image)
    return domains, images


def _all_features(image: Image.Image) -> tuple:
    return features(image), {kind: features(make(image)) for kind, make in VARIANTS.items()}


def _bits(distance: float | None) -> float:
    return np.inf if distance is None else distance


COLOUR_LIMITS = (5, 10, 15, 20, 25, 30, 40, 60)


def _on_white_pairs(base: list, other: np.ndarray, limit: int = int(tiers.NEAR_BITS.value)) -> tuple:
    """Cross-family pairs (i's on_white, j's own picture) within ``limit`` bits, aspect alike: rows, cols, bits,
    Delta E."""
    owners = [i for i, f in enumerate(base) if f.on_white]
    if not owners:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    white = evidence.parse_pair_hashes([base[i].on_white["nhash"] for i in owners])
    white_aspect = np.array([base[i].on_white["aspect"] for i in owners])
    hashes = evidence.parse_pair_hashes([f.nhash for f in base])
    aspect = np.array([f.aspect for f in base])
    bits = evidence.pair_distance(white[:, None], hashes[None, :])
    close = (bits <= limit) & evidence.aspect_close(white_aspect[:, None], aspect[None, :], tiers.ASPECT.value) \
        & other[owners] & (hashes[None, :, 0] != 0)
    r, c = np.nonzero(close)
    layout = evidence.parse_colours([base[i].on_white["colour"] for i in owners])
    colours = evidence.colour_distance(layout[r], evidence.parse_colours([f.colour for f in base])[c])
    return np.array(owners)[r], c, bits[r, c], colours


def colour_report(domains: list[str], base: list, variants: dict, other: np.ndarray, kin: np.ndarray) -> None:
    """The near tier's pairs (hash and aspect within the tier) again, with the colour check at each limit:
    the variants, the cross-family pairs, and the pairs of one name family (``kin``: a brand's own sites,
    whose logos drift in shade from site to site, and which the check should keep)."""
    hashes = evidence.parse_pair_hashes([f.nhash for f in base])
    aspect = np.array([f.aspect for f in base])
    layout = evidence.parse_colours([f.colour for f in base])
    base_payloads = [f.payload() for f in base]
    near = {kind: [[evidence.near_pair(b, v.payload(), limit=int(tiers.NEAR_BITS.value), aspect_limit=tiers.ASPECT.value, colour_limit=limit) is not None
                    for b, v in zip(base_payloads, variants[kind], strict=True)] for limit in COLOUR_LIMITS]
            for kind in VARIANTS}
    negatives = evidence.pair_distance(hashes[:, None], hashes[None, :])
    close = np.triu(other, 1) & (hashes[:, None, 0] != 0) & (negatives <= int(tiers.NEAR_BITS.value)) \
        & evidence.aspect_close(aspect[:, None], aspect[None, :], tiers.ASPECT.value)
    rows, cols = np.nonzero(close)
    white_rows, white_cols, white_bits, white_colour = _on_white_pairs(base, other)
    pair_bits = np.concatenate([negatives[rows, cols], white_bits])
    pair_colour = np.concatenate([evidence.colour_distance(layout[rows], layout[cols]), white_colour])
    rows, cols = np.concatenate([rows, white_rows]), np.concatenate([cols, white_cols])
    own = np.triu(kin, 1) & (hashes[:, None, 0] != 0) & (negatives <= int(tiers.NEAR_BITS.value)) \
        & evidence.aspect_close(aspect[:, None], aspect[None, :], tiers.ASPECT.value)
    own_rows, own_cols = np.nonzero(own)
    own_colour = evidence.colour_distance(layout[own_rows], layout[own_cols])
    print(f"\n== near tier's colour check (mean Delta E over the cells); {len(rows)} cross-family pairs within "
          f"{int(tiers.NEAR_BITS.value)} bits; near-tier share of each variant kind kept")
    for at, limit in enumerate(COLOUR_LIMITS):
        line = [f"dE<={limit:2d}"]
        for kind, kept in near.items():
            line.append(f"{kind} {np.mean(kept[at]):.3f}")
        line.append(f"| cross-family pairs kept {int((pair_colour <= limit).sum())}")
        line.append(f"| one-family pairs kept {(own_colour <= limit).mean():.4f} of {len(own_rows)}")
        print("  ".join(line), flush=True)
    for r, c, b, d in sorted(zip(rows, cols, pair_bits, pair_colour, strict=True), key=lambda t: -t[3])[:30]:
        print(f"   cross-family near pair dE={d:5.1f} bits={b:3d} {domains[r]} / {domains[c]}")
    for r, c, d in sorted(zip(own_rows, own_cols, own_colour, strict=True), key=lambda t: -t[2])[:10]:
        print(f"   one-family near pair dE={d:5.1f} bits={negatives[r, c]:3d} {domains[r]} / {domains[c]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logos", type=Path, required=True, help="PNG logos (logos/ of a `logosim import`)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--cache", type=Path, help="keep the features here (a pickle) for another look")
    parser.add_argument("--tiers", nargs="+", default=["near", "colour", "shape"])
    parser.add_argument("--show", type=int, default=24, help="list the negatives up to this distance")
    parser.add_argument("--jobs", type=int, default=1, help="processes computing the features")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.cache and args.cache.exists():
        domains, base, variants = pickle.loads(args.cache.read_bytes())
    else:
        domains, images = load(args.logos, args.limit)
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            done = list(pool.map(_all_features, images, chunksize=32))
        base = [b for b, _ in done]
        variants = {kind: [v[kind] for _, v in done] for kind in VARIANTS}
        if args.cache:
            args.cache.write_bytes(pickle.dumps((domains, base, variants)))
    print(f"{len(domains)} logos and {len(VARIANTS)} variants each: features in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    pixels = np.array([f.pixels for f in base])
    family, differ = same_family(domains), pixels[:, None] != pixels[None, :]  # same pixels: a stronger tier's
    kin, other = family & differ, ~family & differ
    if "colour" in args.tiers:
        colour_report(domains, base, variants, other, kin)
    for tier, field, kinds in (("near", "nhash", NEAR_KINDS), ("shape", "shash", SHAPE_KINDS)):
        if tier not in args.tiers:
            continue
        hashes = evidence.parse_pair_hashes([getattr(f, field) for f in base])
        aspect = np.array([f.aspect for f in base])
        negatives = evidence.pair_distance(hashes[:, None], hashes[None, :])
        ratio = np.abs(np.log(aspect[:, None] / aspect[None, :]))
        upper = np.triu(np.ones_like(other), 1) & other & (hashes[:, None, 0] != 0)
        print(f"\n== {tier} ({field}); negatives: {int(upper.sum())} cross-family pairs")
        if tier == "near":  # the tier's own rule (on_white included), colours not asked
            payloads = [f.payload() for f in base]
            best = {kind: np.array([_bits(evidence.near_pair(b, v.payload(), limit=32, aspect_limit=tiers.ASPECT.value, colour_limit=None))
                                    for b, v in zip(payloads, variants[kind], strict=True)]) for kind in kinds}
            _, _, white_bits, _ = _on_white_pairs(base, other, limit=32)
        for limit in (4, 8, 12, 16, 20, 24, 28, 32):
            line = [f"d<={limit:2d}"]
            for kind in kinds:
                if tier == "near":
                    line.append(f"{kind} {(best[kind] <= limit).mean():.3f}")
                    continue
                v = variants[kind]
                vh = evidence.parse_pair_hashes([getattr(f, field) for f in v])
                va = np.array([f.aspect for f in v])
                ok = (evidence.pair_distance(hashes, vh) <= limit) & \
                     (np.abs(np.log(aspect / va)) <= tiers.ASPECT.value)
                line.append(f"{kind} {ok.mean():.3f}")
            close = upper & (negatives <= limit) & (ratio <= tiers.ASPECT.value)
            if tier == "near":
                line.append(f"| on_white false pairs {int((white_bits <= limit).sum())}")
            line.append(f"| false pairs {int(close.sum())} ({close.sum() / max(upper.sum(), 1):.2e})")
            print("  ".join(line), flush=True)
        shown = upper & (ratio <= tiers.ASPECT.value) & (negatives <= args.show)
        order = np.argsort(np.where(shown, -negatives, 999), axis=None)[:int(shown.sum())][:40]
        for flat in order:
            i, j = np.unravel_index(flat, negatives.shape)
            print(f"   closest negative d={negatives[i, j]} {domains[i]} / {domains[j]}")


if __name__ == "__main__":
    main()
