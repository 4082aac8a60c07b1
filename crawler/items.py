"""The crawl's one item: a domain's outcome, carried from the spider through the pipelines into the manifest."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.manifest import FAILED, NO_LOGO, OK, ManifestRecord, now_iso


@dataclass
class LogoItem:
    """``png`` is set for status ok until LogoFilePipeline has written it (then ``logo_path`` is set)."""

    domain: str
    status: str
    reason: str | None = None
    source: str | None = None
    logo_url: str | None = None
    png: bytes | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    logo_path: str | None = None
    alternatives: list[dict[str, str]] | None = None  # the runner-up candidates (ManifestRecord.alternatives)
    record: ManifestRecord | None = None  # set by ManifestPipeline once written

    @classmethod
    def failed(cls, domain: str, reason: str) -> LogoItem:
        return cls(domain, FAILED, reason)

    @classmethod
    def no_logo(cls, domain: str, reason: str) -> LogoItem:
        return cls(domain, NO_LOGO, reason)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_record(self) -> ManifestRecord:
        return ManifestRecord(domain=self.domain, status=self.status, reason=self.reason, source=self.source,
                              logo_url=self.logo_url, logo_path=self.logo_path, sha256=self.sha256,
                              width=self.width, height=self.height, fetched_at=now_iso(),
                              alternatives=self.alternatives)
