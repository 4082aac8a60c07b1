"""Read a messy domain list (parquet, csv, txt) into distinct normalised domains, keeping line numbers of rejects."""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import idna

from common.errors import InputError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
# Unusable lines kept for the summary; the rest are counted (a list of junk must not fill memory twice).
MAX_REJECTS = 1000
_DOMAIN_COLUMNS = ("domain", "domains", "website", "site", "url", "host", "hostname")


@dataclass
class Rejected:
    line: int
    text: str
    reason: str


@dataclass
class DomainList:
    """Distinct domains in input order, plus what was dropped and why."""

    domains: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_REJECTS, for the summary
    rejected_total: int = 0  # all of them
    duplicates: int = 0
    blanks: int = 0  # empty or comment lines

    def add(self, line_no: int, raw: object, seen: set[str]) -> None:
        text = "" if raw is None else str(raw)
        if not text.strip():
            self.blanks += 1
            return
        try:
            domain = normalise_domain(text)
        except ValueError as exc:
            self.rejected_total += 1
            if len(self.rejected) < MAX_REJECTS:
                self.rejected.append(Rejected(line_no, text.strip()[:200], str(exc)))
            return
        if domain in seen:
            self.duplicates += 1
            return
        seen.add(domain)
        self.domains.append(domain)


def normalise_domain(text: str) -> str:
    """``' HTTPS://www.Bücher.de:443/path '`` -> ``'xn--bcher-kva.de'``; raises ValueError with a reason."""
    s = text.strip().strip("\ufeff").strip().strip("\"'").strip()
    if not s:
        raise ValueError("empty")
    if any(ch.isspace() for ch in s):
        raise ValueError("contains whitespace")
    if "://" not in s:
        s = "//" + s.lstrip("/")
    try:
        host = urlsplit(s).hostname or ""
    except ValueError as exc:
        raise ValueError(f"not a URL or domain ({exc})") from None
    host = host.rstrip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if not host:
        raise ValueError("no host name")
    if _IPV4.match(host) or ":" in host:
        raise ValueError("an IP address, not a domain")
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"invalid characters for a domain name ({str(exc)[:80]})") from None
    labels = host.split(".")
    if len(labels) < 2:
        raise ValueError("no top-level domain")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("invalid characters or label length")
    if labels[-1].isdigit():
        raise ValueError("numeric top-level domain")
    return host


def display_domain(domain: str) -> str:
    """Unicode form of a normalised (punycode) domain, for people."""
    try:
        return idna.decode(domain)
    except idna.IDNAError:
        return domain


def read_domains(path: str | Path) -> DomainList:
    """Dispatch on the file's extension and read it once, as a stream (a list of millions of domains is never
    held twice); raise InputError when the file as a whole is unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() != ".txt" else ".txt"
    if suffix.endswith(".parquet"):
        return _read_parquet(path)
    with path.open("rb") as handle:
        if b"\x00" in handle.read(8192):
            raise InputError(f"{path} looks binary, not a text domain list (expected .parquet, .csv or .txt)")
        handle.seek(0)
        lines = _decoded_lines(handle)
        if suffix.endswith(".csv"):
            return _read_csv(lines, path)
        return _read_lines(lines)


def _decoded_lines(handle: Iterable[bytes]) -> Iterator[str]:
    """Each line as text: UTF-8 (a BOM dropped), else cp1252, else latin-1 -- decided per line, so one stray
    byte costs one line's spelling, not a second pass over the file."""
    for number, raw in enumerate(handle):
        if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        for encoding in ("utf-8", "cp1252"):
            try:
                yield raw.decode(encoding).rstrip("\r\n")
                break
            except UnicodeDecodeError:
                continue
        else:
            yield raw.decode("latin-1").rstrip("\r\n")


def _read_lines(lines: Iterable[str], first_line: int = 1) -> DomainList:
    result, seen = DomainList(), set()
    for offset, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            result.blanks += 1  # a comment line counts as blank: nothing to crawl, nothing to report
            continue
        result.add(first_line + offset, line, seen)
    return result


def _read_csv(lines: Iterator[str], path: Path) -> DomainList:
    rows = csv.reader(lines)
    try:
        first = next(rows, None)
        if first is None:
            return DomainList()
        header = [cell.strip().lower() for cell in first]
        column = next((header.index(name) for name in _DOMAIN_COLUMNS if name in header), None)
        if column is None:
            # No recognised header: the first column holds domains, and the first row is data
            # unless it is clearly a header (a cell with no dot at all).
            if first and "." not in first[0]:
                raise InputError(
                    f"{path}: no 'domain' column in the header {first[:5]} and its first column holds no domains"
                )
            return _read_lines(itertools.chain([first[0] if first else ""], (row[0] if row else "" for row in rows)))
        return _read_lines((row[column] if len(row) > column else "" for row in rows), first_line=2)
    except csv.Error as exc:  # a field over csv's limit (128 KB), a NUL byte, ...: the file is no domain list
        raise InputError(f"{path}: not a usable CSV file ({exc})") from None


def _read_parquet(path: Path) -> DomainList:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__}: {exc})") from None
    names = [name.lower() for name in parquet.schema_arrow.names]
    column = next((names.index(name) for name in _DOMAIN_COLUMNS if name in names), None)
    if column is None:
        raise InputError(f"{path}: no 'domain' column (columns: {', '.join(parquet.schema_arrow.names[:10])})")
    result, seen, row = DomainList(), set(), 0
    try:
        for batch in parquet.iter_batches(batch_size=65_536, columns=[parquet.schema_arrow.names[column]]):
            for value in batch.column(0).to_pylist():
                row += 1
                result.add(row, value, seen)
    except Exception as exc:  # a corrupt row group
        raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__}: {exc})") from None
    return result
