"""The crawl's one item: a domain's manifest record, with the logo's PNG bytes until they are written."""

from __future__ import annotations

from dataclasses import dataclass

from common.manifest import FAILED, NO_LOGO, OK, ManifestRecord


@dataclass
class LogoItem:
    """``png`` is set for status ok until LogoFilePipeline has written it (and set ``record.logo_path``);
    ManifestPipeline stamps ``record.fetched_at`` as it appends the record."""

    record: ManifestRecord
    png: bytes | None = None

    @classmethod
    def found(cls, domain: str, png: bytes, **fields: object) -> LogoItem:
        return cls(ManifestRecord(domain, OK, **fields), png)  # type: ignore[arg-type]

    @classmethod
    def failed(cls, domain: str, reason: str) -> LogoItem:
        return cls(ManifestRecord(domain, FAILED, reason))

    @classmethod
    def no_logo(cls, domain: str, reason: str) -> LogoItem:
        return cls(ManifestRecord(domain, NO_LOGO, reason))

    @property
    def domain(self) -> str:
        return self.record.domain

    @property
    def ok(self) -> bool:
        return self.record.status == OK
