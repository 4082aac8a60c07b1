"""Input reading: every format, messy lines normalised, rejects reported by line number, nothing lost."""

from __future__ import annotations

import random
import string

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.domains import MAX_REJECTS, display_domain, normalise_domain, read_domains
from common.errors import InputError


@pytest.mark.parametrize(("raw", "expected"), [
    ("example.com", "example.com"),
    ("  Example.COM  ", "example.com"),
    ("https://www.example.com/path?q=1#x", "example.com"),
    ("http://example.com:8080", "example.com"),
    ("WWW.example.co.uk.", "example.co.uk"),
    ("//cdn.example.org/", "cdn.example.org"),
    ("example.com/about", "example.com"),
    ("\ufeffexample.com", "example.com"),
    ('"example.com"', "example.com"),
    ("bücher.de", "xn--bcher-kva.de"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("BÜCHER.de", "xn--bcher-kva.de"),
    ("user@mail.example.com", "mail.example.com"),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "localhost", "not a domain", "192.168.0.1", "http://[::1]/", "-bad-.com", "a..com",
    "exa_mple.com", "x" * 64 + ".com", "example.123", "https://", "💩💩",
])
def test_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_domain(raw)


def test_display_domain_round_trips_idn() -> None:
    assert display_domain("xn--bcher-kva.de") == "bücher.de"


def test_txt_with_mess(tmp_path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("# comment\nexample.com\n\nhttps://www.EXAMPLE.com/\nnot a domain\nb.org\n", encoding="utf-8")
    result = read_domains(path)
    assert result.domains == ["example.com", "b.org"]
    assert result.duplicates == 1 and result.blanks == 2  # the empty line and the comment
    assert [(r.line, r.text) for r in result.rejected] == [(5, "not a domain")]


def test_csv_domain_column_anywhere(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,Domain,notes\n1,a.com,x\n2,https://b.com/,y\n3,,z\n4,???,w\n", encoding="utf-8")
    result = read_domains(path)
    assert result.domains == ["a.com", "b.com"]
    assert [(r.line, r.text) for r in result.rejected] == [(5, "???")]


def test_csv_without_header_uses_first_column(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a.com,1\nb.com,2\n", encoding="utf-8")
    assert read_domains(path).domains == ["a.com", "b.com"]


def test_csv_without_domain_column_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("name,age\nbob,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'domain' column"):
        read_domains(path)


def test_parquet(tmp_path) -> None:
    path = tmp_path / "d.snappy.parquet"
    pq.write_table(pa.table({"domain": ["a.com", None, "A.com", "bücher.de", "junk junk"]}), path,
                   compression="snappy")
    result = read_domains(path)
    assert result.domains == ["a.com", "xn--bcher-kva.de"]
    assert result.duplicates == 1 and result.blanks == 1 and len(result.rejected) == 1


def test_parquet_with_another_schema(tmp_path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"name": ["a"], "n": [1]}), path)
    with pytest.raises(InputError, match="no 'domain' column"):
        read_domains(path)


def test_corrupt_parquet_and_binary_and_missing(tmp_path) -> None:
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet"):
        read_domains(bad)
    binary = tmp_path / "x.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(InputError, match="binary"):
        read_domains(binary)
    with pytest.raises(InputError, match="not found"):
        read_domains(tmp_path / "nope.txt")


def test_empty_file_is_an_empty_list(tmp_path) -> None:
    path = tmp_path / "e.txt"
    path.write_text("")
    assert read_domains(path).domains == []


def test_junk_and_duplicates_at_scale(tmp_path) -> None:
    rng = random.Random(7)
    good = [f"site{i}.example" for i in range(2000)]
    lines = []
    for i in range(100_000):
        if i % 25 == 0:
            lines.append(rng.choice(good).upper())
        else:
            lines.append("".join(rng.choice(string.punctuation + " ") for _ in range(rng.randint(1, 30))))
    path = tmp_path / "junk.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = read_domains(path)
    assert set(result.domains) <= set(good)
    assert len(result.domains) + result.duplicates == 4000
    assert result.rejected_total + result.blanks == 96_000
    assert len(result.rejected) == MAX_REJECTS  # the rest are counted, not kept (issue 10: bounded)


def test_real_challenge_file(shared_data) -> None:
    result = read_domains(shared_data / "challenge" / "logos.snappy.parquet")
    assert len(result.domains) == 3416
    assert len(result.domains) + result.duplicates + len(result.rejected) + result.blanks == 4384
