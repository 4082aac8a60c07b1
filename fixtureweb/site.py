"""One planned site of the fixture web: domain, kind, brand and scheme; what every page kind builds from (its
ground truth is fixtureweb.sites.truth_of)."""

from __future__ import annotations

from dataclasses import dataclass

from fixtureweb.images import Mark


@dataclass(frozen=True)
class Brand:
    name: str
    slug: str
    mark: Mark


@dataclass
class Site:
    domain: str
    kind: str
    brand: Brand
    https: bool
    seed: int

    @property
    def name(self) -> str:
        return self.brand.name if self.kind != "cp1252" else self.brand.name + " Caf\u00e9"

    def base(self, www: bool = False) -> str:
        return f"{'https' if self.https else 'http'}://{'www.' if www else ''}{self.domain}"
