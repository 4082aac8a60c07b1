"""Read a messy domain list (parquet, csv, txt) into distinct normalised domains, keeping line numbers of rejects."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import idna

from common.errors import InputError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
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
    rejected: list[Rejected] = field(default_factory=list)
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
    """Dispatch on the file's extension; raise InputError when the file as a whole is unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() != ".txt" else ".txt"
    if suffix.endswith(".parquet"):
        return _read_parquet(path)
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise InputError(f"{path} looks binary, not a text domain list (expected .parquet, .csv or .txt)")
    text = _decode(raw)
    if suffix.endswith(".csv"):
        return _read_csv(text, path)
    return _read_lines(text.splitlines())


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _read_lines(lines: list[str], first_line: int = 1) -> DomainList:
    result, seen = DomainList(), set()
    for offset, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            result.blanks += 1  # a comment line counts as blank: nothing to crawl, nothing to report
            continue
        result.add(first_line + offset, line, seen)
    return result


def _read_csv(text: str, path: Path) -> DomainList:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a field over csv's limit (128 KB), a NUL byte, ...: the file is no domain list
        raise InputError(f"{path}: not a usable CSV file ({exc})") from None
    if not rows:
        return DomainList()
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in _DOMAIN_COLUMNS if name in header), None)
    if column is None:
        # No recognised header: the first column holds domains, and the first row is data
        # unless it is clearly a header (a cell with no dot at all).
        if rows[0] and "." not in rows[0][0]:
            raise InputError(
                f"{path}: no 'domain' column in the header {rows[0][:5]} and its first column holds no domains"
            )
        return _read_lines([row[0] if row else "" for row in rows])
    values = [row[column] if len(row) > column else "" for row in rows[1:]]
    return _read_lines(values, first_line=2)


def _read_parquet(path: Path) -> DomainList:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__}: {exc})") from None
    names = [name.lower() for name in table.column_names]
    column = next((names.index(name) for name in _DOMAIN_COLUMNS if name in names), None)
    if column is None:
        raise InputError(f"{path}: no 'domain' column (columns: {', '.join(table.column_names[:10])})")
    values = table.column(column).to_pylist()
    result, seen = DomainList(), set()
    for row, value in enumerate(values, start=1):
        result.add(row, value, seen)
    return result
