"""The smaller holes of issue 10: long domains' file names, markup in remote text, paths out of the data
folder, short writes, Image.open restricted to our formats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers_images import logo, png
from typer.testing import CliRunner

from cli import app
from common.datadir import DataDir, atomic_write_bytes
from common.domains import normalise_domain
from common.manifest import read_manifest, write_all
from convert.importer import import_folder

LONG = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])  # 253 characters: the longest valid name


def test_the_longest_domains_get_a_record_and_a_file(tmp_path: Path):
    assert normalise_domain(LONG) == LONG and len(LONG) == 253
    src = tmp_path / "src"
    src.mkdir()
    name = LONG[:-4] + ".png"  # a file name must itself fit: the folder names the domain without ".com"
    (src / name).write_bytes(png(logo()))
    data = DataDir(tmp_path / "data")
    summary = import_folder(src, data, workers=0)
    assert summary.ok == 1, summary
    record = read_manifest(data.manifest).records[LONG[:-4]]
    assert (data.root / record.logo_path).is_file()
    for domain in (LONG, LONG[:238]):
        path = data.logo_path(domain)
        atomic_write_bytes(path, b"x")  # the temporary name beside it fits too
        assert path.read_bytes() == b"x" and len(path.name.encode()) <= 255


def test_a_path_out_of_the_data_folder_is_refused(tmp_path: Path):
    data = DataDir(tmp_path / "data")
    assert data.logo_at("../../etc/passwd", "a.com") == data.logo_path("a.com")
    assert data.logo_at("/etc/passwd", "a.com") == data.logo_path("a.com")
    assert data.logo_at("logos/b.com.png", "b.com") == (data.root / "logos/b.com.png").resolve()


def test_markup_in_a_domain_line_is_printed_not_parsed(tmp_path: Path, capsys):
    from cli import _print_crawl

    report = {"ok": 0, "total": 0, "found_pct": 0.0, "no_logo": 0, "failed": 0, "skipped": 0, "by_source": {},
              "by_reason": {}, "rejected_lines": [{"line": 1, "text": "[/oops]", "reason": "[bold]x"}], "rejected_total": 1}
    _print_crawl(report)  # rich would raise MarkupError on "[/oops]"
    assert "[/oops]" in capsys.readouterr().err
    missing = tmp_path / "[/oops].png"
    result = CliRunner().invoke(app, ["similar", str(missing), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "MarkupError" not in repr(result.exception)


def test_short_writes_are_completed(tmp_path: Path, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data)[:3]))  # at most 3 bytes a call
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    write_all(fd, b"0123456789")
    os.close(fd)
    assert path.read_bytes() == b"0123456789"


def test_report_and_preprocess_open_only_png(tmp_path: Path):
    from indexer.preprocess import load_logo

    eps = tmp_path / "x.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(Exception, match="cannot identify"):
        load_logo(eps)


def test_a_huge_csv_field_is_one_input_error(tmp_path: Path):
    from common.domains import read_domains
    from common.errors import InputError

    path = tmp_path / "d.csv"
    path.write_text('domain\nexample.com\n"' + "a" * 200_000 + '"\n')
    with pytest.raises(InputError, match="not a usable CSV"):
        read_domains(path)
