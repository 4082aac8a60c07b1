"""What a peer hands over is untrusted too: a tampered worker folder for `merge`, entries anyone can write to an
open Redis, page and sheet text built to make a regex backtrack, non-web charsets, a compressed homepage, an SVG
bomb and a dripping server for `similar`, terminal escapes in a page, symlinks in an import folder.

Real parts: real files and folders, a real redis-server, the fixture web on 127.0.0.1 through the real spider."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from common.datadir import FRONTIER_STATE, DataDir, update_state
from common.errors import LogosimError
from common.manifest import FAILED, OK, ManifestRecord, ManifestWriter, read_manifest
from common.text import json_text, printable
from convert.importer import import_folder
from crawler.frontier import Frontier, FrontierUnreachable
from fixtureweb.bombs import pattern_use_svg
from fixtureweb.hostile import png_bomb
from fixtureweb.pagekinds import EXTERNAL_CSS, TERMINAL_ESCAPES, TRAP_KINDS
from fixtureweb.redisserver import RedisServer
from fixtureweb.web import FixtureWeb, mismatches
from pipeline.merge import merge_folders

ROOT = Path(__file__).resolve().parents[1]


def _png(colour: tuple[int, int, int] = (20, 90, 200), size: tuple[int, int] = (120, 60)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (size[0] // 2, size[1] // 2), (*colour, 255)), (size[0] // 4, size[1] // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


# -- merge: a worker's folder as an attacker would hand it over ------------------------------------------
def _worker_folder(root: Path, records: list[ManifestRecord], files: dict[str, bytes]) -> DataDir:
    data = DataDir(root).ensure()
    update_state(data, FRONTIER_STATE, id="frontier-1")
    for name, body in files.items():
        (data.root / name).parent.mkdir(parents=True, exist_ok=True)
        (data.root / name).write_bytes(body)
    with ManifestWriter(data.manifest) as writer:
        for record in records:
            writer.write(record)
    return data


def test_merge_copies_only_what_a_folder_really_holds(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    outside = tmp_path / "outside.png"
    outside.write_bytes(_png((200, 0, 0)))
    good, other = _png(), _png((0, 160, 60))

    def ok(domain: str, path: str, data: bytes) -> ManifestRecord:
        return ManifestRecord(domain, OK, source="img", logo_path=path, sha256=_sha(data), width=120, height=60)

    honest = _worker_folder(tmp_path / "w1", [ok("good.example", "logos/good.example.png", good)],
                            {"logos/good.example.png": good})
    evil = _worker_folder(tmp_path / "w2", [
        ok("absolute.example", str(secret), secret.read_bytes()),
        ok("climb.example", "../../secret.txt", secret.read_bytes()),
        ok("link.example", "logos/link.example.png", outside.read_bytes()),
        ok("../../../escape", "logos/x.png", other),
        ManifestRecord("nosha.example", OK, logo_path="logos/nosha.example.png", sha256=""),
        ok("bomb.example", "logos/bomb.example.png", png_bomb()),
        ManifestRecord("mismatch.example", OK, logo_path="logos/mismatch.example.png", sha256=_sha(good)),
        ManifestRecord("failed.example", FAILED, reason="timeout"),
    ], {"logos/x.png": other, "logos/nosha.example.png": other, "logos/bomb.example.png": png_bomb(),
        "logos/mismatch.example.png": other})
    (evil.logos / "link.example.png").symlink_to(outside)
    before = _files(tmp_path)

    out = tmp_path / "merged" / "data"
    summary = merge_folders([honest.root, evil.root], out)

    assert summary.rejected == {"logo_outside_folder": 2, "logo_is_symlink": 1, "bad_domain": 1, "no_sha256": 1,
                                "bad_logo:too_large": 1, "sha256_mismatch": 1}, summary.rejected
    records = read_manifest(out / "manifest.jsonl").records
    assert sorted(records) == ["failed.example", "good.example"]
    assert (out / records["good.example"].logo_path).read_bytes() == good
    created = {path for path in _files(tmp_path) - before if path.name != ".lock"}  # each folder's lock file
    assert all(path.is_relative_to(out) for path in created), created  # nothing written outside --data-dir
    assert not any(b"hunter2" in path.read_bytes() for path in created if path.is_file())
    assert sorted(p.name for p in (out / "logos").iterdir()) == ["good.example.png"]


# -- the Redis frontier: what anyone who reaches it can write -----------------------------------------------
@pytest.fixture(scope="module")
def small_web():
    with FixtureWeb(sites=4, seed=11, kinds=["header_png"]) as fixture:
        yield fixture


def _env(web: FixtureWeb, data: Path) -> dict[str, str]:
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("LOGOSIM_FRONTIER", None)
    return env


BAD_ENTRIES = [b"evil.test/../../../../x", b"evil.test:6379", b"evil.test\r\nX-Injected: 1", b"\xff\xfe.example",
               b"../../etc/passwd", b"Upper.Example"]


def test_entries_written_to_redis_are_normalised_or_failed(redis_server, small_web, tmp_path: Path) -> None:
    url = redis_server.url(3)
    frontier = Frontier.connect(url)
    frontier.server.flushdb()
    good = sorted(small_web.truth)
    frontier.load(good[:1])
    frontier.server.rpush("logosim:queue", *BAD_ENTRIES)  # a writer with access to the open Redis
    frontier.server.sadd("logosim:seen", *BAD_ENTRIES)
    frontier.load(good[1:])
    data = tmp_path / "worker" / "data"
    before = _files(tmp_path)
    result = subprocess.run([sys.executable, "-c", "from cli import app; app()", "crawl", "--frontier", url, "-d",
                             str(data)], cwd=ROOT, env=_env(small_web, data), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_manifest(data / "manifest.jsonl").records
    assert sorted(records) == good and mismatches({d: small_web.truth[d] for d in good}, records) == []
    rejected = frontier.server.hgetall("logosim:rejected")
    assert sorted(rejected) == sorted(BAD_ENTRIES) and set(rejected.values()) == {b"not_a_domain"}
    done = frontier.server.hgetall("logosim:done")
    assert all(done[entry] == b"failed" for entry in BAD_ENTRIES) and frontier.remaining() == (0, 0)
    assert frontier.status().rejected == len(BAD_ENTRIES)
    created = _files(tmp_path) - before
    assert all(path.is_relative_to(data) for path in created), created  # no PNG outside the data folder


def test_a_worker_whose_intake_breaks_exits_non_zero(redis_server, small_web, tmp_path: Path) -> None:
    """Any failure while taking work (here a bug, injected into the real command) ends the worker with one
    line and exit 1, instead of a worker that idles with leases and exits 0."""
    url = redis_server.url(4)
    frontier = Frontier.connect(url)
    frontier.server.flushdb()
    frontier.load(sorted(small_web.truth))
    script = ("import sys\nfrom crawler.frontier import Frontier\n"
              "def broken(self, *args, **kwargs):\n    raise RuntimeError('a bug while taking work')\n"
              "Frontier.take = broken\nfrom scrapy.cmdline import execute\n"
              f"sys.argv = ['scrapy', 'crawl', 'logos', '-s', 'LOGOSIM_FRONTIER={url}']\nexecute()\n")
    data = tmp_path / "data"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(small_web, data), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "taking work failed (RuntimeError: a bug while taking work)" in result.stderr


def test_redis_auth_and_tls_go_in_the_url(small_web) -> None:
    try:
        server = RedisServer(password="s3cret", tls=True)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with server:
        frontier = Frontier.connect(server.url(0))
        assert frontier.load(["a.example"]) == 1 and frontier.status().queued == 1
        with pytest.raises(FrontierUnreachable, match="not reachable"):
            Frontier.connect(server.url(0, password="wrong"))
        with pytest.raises(FrontierUnreachable, match="not reachable"):
            Frontier.connect(f"redis://127.0.0.1:{server.port}/0")  # plain text to a TLS port
        status = subprocess.run([sys.executable, "-c", "from cli import app; app()", "status", "--frontier",
                                 server.url(0), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["queued"] == 1 and "s3cret" not in status.stdout  # the password is never printed


# -- page and sheet text: no regex that backtracks, a deadline for one page ---------------------------------
def _timed(fn, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def test_page_and_sheet_text_is_read_in_linear_time() -> None:
    """Each of these took tens of seconds with the regexes they replaced (43 s, 57 s, ...): 100 KB of text."""
    from crawler.extract import css_candidates, find_candidates
    from crawler.extract.brand import file_key
    from crawler.extract.signals import title_name

    head = '<html><head><title>{title}</title>{extra}</head><body><header><a href="/"><img src="/logo.png" ' \
           'alt="Acme logo" class="logo"></a></header>{body}</body></html>'
    pages = {
        "brace-free <style>": head.format(title="Acme", extra="<style>" + "a" * 100_000 + "</style>", body=""),
        "background: without url(": head.format(title="Acme", extra="<style>.logo{" + "background:" * 9000 + "}</style>",
                                                body=""),
        "url( without )": head.format(title="Acme", extra="", body='<div style="' + "background:url(" * 7000 + '">x</div>'),
        "an svg of url(#": head.format(title="Acme", extra="", body='<a href="/"><svg class="logo"><path fill="'
                                       + "url(#" * 20_000 + '"/></svg></a>'),
        "JSON-LD of <!--": head.format(title="Acme", extra='<script type="application/ld+json">' + "<!--" * 25_000
                                       + "</script>", body=""),
        "a title of spaces": head.format(title=" " * 100_000 + "x", extra="", body=""),
        "JSON-LD of blank lines": head.format(title="Acme", extra='<script type="application/ld+json">{'
                                              + "\n" * 100_000 + "</script>", body=""),
    }
    for name, page in pages.items():
        _, seconds = _timed(find_candidates, page, "https://acme.test/", "acme.test")
        assert seconds < 2.0, (name, seconds)
    sheet = EXTERNAL_CSS + "/" + " x" * 60_000
    page = '<html><body><header class="site-header"><a href="/" class="brand-mark"></a></header></body></html>'
    found, seconds = _timed(css_candidates, sheet, "https://acme.test/css/site.css", page, "https://acme.test/",
                            "acme.test")
    assert seconds < 2.0 and "https://acme.test/assets/logo-ext.png" in [c.url for c in found], seconds
    _, seconds = _timed(file_key, "https://acme.test/img/logo" + "1x" * 5000 + "!.png")
    assert seconds < 1.0
    _, seconds = _timed(title_name, "Acme" + " " * 100_000 + "x", "acme")
    assert seconds < 1.0


def test_the_rule_scan_finds_what_the_regex_found() -> None:
    """crawler.extract.cssscan against the regexes it replaced, on generated sheets (small: the regexes are
    quadratic) and on the inline CSS of the real pages when ../shared is there."""
    import random
    import re

    from crawler.extract.cssscan import background_url, rules, without_comments

    old_rule = re.compile(r"([^{}]+)\{([^{}]*)\}")
    old_url = re.compile(r"background(?:-image)?\s*:[^;{}]*?url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
    rng = random.Random(7)
    pieces = ["a", ".logo", " ", "{", "}", "@media x", "background:", "background-image :", "url(", ")", "'",
              '"', "/a.png", ";", "color:red", "/*", "*/", "\n"]
    for _ in range(3000):
        css = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert list(rules(css)) == old_rule.findall(css), css
        for body in (body for _, body in old_rule.findall(css)):
            match = old_url.search(body)
            if match is not None and ";" not in match.group(0) and match.group(1) not in match.group(2):
                assert background_url(body) == match.group(2).strip(), body
    real = ROOT.parent / "shared" / "data" / "real-pages" / "pages"
    if real.is_dir():
        from lxml import html

        for path in sorted(real.glob("*.html"))[:40]:
            for style in html.fromstring(path.read_bytes()).iter("style"):
                css = without_comments(style.text or "")
                assert list(rules(css)) == old_rule.findall(css), path.name


def test_one_page_has_a_deadline() -> None:
    from crawler.extract import ExtractTimeout, find_candidates, run_within

    page = "<html><body>" + '<div class="logo"><img src="/a.png"></div>' * 20_000 + "</body></html>"
    with pytest.raises(ExtractTimeout):
        run_within(0.05, find_candidates, page, "https://acme.test/", "acme.test")
    assert run_within(None, find_candidates, "<html></html>", "https://acme.test/", "acme.test")  # the favicon


def test_a_crawl_records_a_page_past_its_deadline_and_goes_on(small_web, tmp_path: Path) -> None:
    domains = small_web.write_domains(tmp_path / "d.txt", sorted(small_web.truth)[:2])
    data = tmp_path / "data"
    result = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
                             "-s", "LOGOSIM_EXTRACT_DEADLINE=0.000001", "-s", "DOWNLOAD_TIMEOUT=3"],
                            cwd=ROOT, env=_env(small_web, data), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_manifest(data / "manifest.jsonl").records
    assert {r.reason for r in records.values()} == {"extract_timeout"} and len(records) == 2


# -- the traps through the real spider: read within the crawl's normal time --------------------------------
@pytest.fixture(scope="module")
def trap_web():
    with FixtureWeb(sites=len(TRAP_KINDS) + 4, seed=13, kinds=[*TRAP_KINDS, "header_png", "css_external"]) as web:
        yield web


def test_the_traps_cost_a_crawl_nothing(trap_web, tmp_path: Path) -> None:
    domains = trap_web.write_domains(tmp_path / "d.txt")
    data = tmp_path / "data"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
                             "-s", "DOWNLOAD_TIMEOUT=5"], cwd=ROOT, env=_env(trap_web, data), capture_output=True,
                            text=True, timeout=180)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_manifest(data / "manifest.jsonl").records
    assert mismatches(trap_web.truth, records) == []
    assert seconds < 60, seconds  # each trap alone cost the old reader 40-80 s


def test_explain_prints_no_control_character(trap_web) -> None:
    domain = next(d for d, t in trap_web.truth.items() if t.kind == "trap_terminal")
    for extra in ([], ["--json"]):
        result = subprocess.run([sys.executable, "-c", "from cli import app; app()", "crawl", "--explain", domain,
                                 *extra], cwd=ROOT, env={**os.environ, **trap_web.proxy_env(), "PYTHONPATH": str(ROOT)},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "logo" in result.stdout
        shown = result.stdout + result.stderr
        assert not any(ord(c) < 0x20 and c not in "\n" or 0x7F <= ord(c) < 0xA0 for c in shown), repr(shown[:500])
    assert "\\x1b]0;pwned\\x07" in printable(TERMINAL_ESCAPES) and "\x1b" not in json_text({"a": "\x9b\x1b"})


def test_a_compressed_homepage_inflates_only_to_the_cap() -> None:
    from crawler.homepage_cap import decoded_prefix

    page = b"<html><header><img src=/logo.png class=logo></header>" + b"g" * (8 * 2**20)
    cap = 2 * 2**20
    for encoding, body in ((b"gzip", gzip.compress(page)), (b"deflate", _deflate(page, raw=False)),
                           (b"deflate", _deflate(page, raw=True))):
        assert decoded_prefix(body, encoding, cap) == page[:cap], encoding
        assert decoded_prefix(body[: len(body) // 2], encoding, 10**9) == page[: len(decoded_prefix(
            body[: len(body) // 2], encoding, 10**9) or b"")]  # a stream cut short gives what came
    import brotli

    assert decoded_prefix(brotli.compress(page), b"br", cap) == page[:cap]
    assert decoded_prefix(b"\x00" * 100, b"zstd", cap) is None  # left to Scrapy, bounded by the cap


def _deflate(data: bytes, raw: bool) -> bytes:
    import zlib

    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def test_non_html_responses_decode_only_with_web_encodings() -> None:
    from scrapy.http import Request, TextResponse

    from crawler.encodings import WebEncodingMiddleware

    for ctype in (b"text/plain; charset=punycode", b"text/css; charset=punycode", b"application/json; charset=rot13"):
        response = TextResponse("https://a.test/", headers={b"Content-Type": ctype}, body=b"news-" + b"a" * 300_000)
        relabelled = WebEncodingMiddleware().process_response(Request("https://a.test/"), response)
        started = time.perf_counter()
        assert relabelled.encoding == "utf-8" and relabelled.text.startswith("news-")
        assert time.perf_counter() - started < 1.0


# -- similar: the crawl's limits for an image query ------------------------------------------------------
def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants now (Linux /proc; 0 for a process gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def test_similar_converts_an_svg_bomb_in_a_killable_worker(tmp_path: Path) -> None:
    """`similar FILE` on a 5 KB SVG of nested patterns (in-process it ran past 60 s at 1.1 GB): refused within
    the conversion deadline, the whole process tree under 1 GB (sampled every 50 ms)."""
    bomb = tmp_path / "bomb.svg"
    bomb.write_bytes(pattern_use_svg())
    script = ("import sys\nfrom pathlib import Path\nfrom common.errors import LogosimError\n"
              "from search.similar import embed_bytes_with_features\nprint('ready', flush=True)\n"
              "try:\n    embed_bytes_with_features(Path(sys.argv[1]).read_bytes(), None, None)\n"
              "except LogosimError as exc:\n    print('refused', exc)\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(bomb)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    started, peak = time.monotonic(), 0
    while process.poll() is None and time.monotonic() - started < 60:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.05)
    seconds = time.monotonic() - started
    output, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors[-3000:]
    assert "refused the query is not a usable logo image" in output and "convert_timeout" in output, output
    assert seconds < 20 and peak < 2**30, (seconds, peak)


def test_similar_url_has_one_deadline_headers_included() -> None:
    """A server that drips its status line and headers a byte every 0.3 s answers every read in time."""
    from search.similar import fetch_image

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" * 50:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    threading.Thread(target=drip, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(LogosimError, match="deadline"):
            fetch_image(f"http://127.0.0.1:{listener.getsockname()[1]}/logo.png", timeout=2.0, allow_private=True)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3.5


# -- import: a folder handed over ------------------------------------------------------------------------
def test_import_refuses_symlinks_that_leave_the_folder(tmp_path: Path) -> None:
    src, outside = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir()
    outside.mkdir()
    (outside / "real.png").write_bytes(_png((200, 0, 0)))
    (src / "inside.example.png").write_bytes(_png())
    (src / "alias.example.png").symlink_to(src / "inside.example.png")
    (src / "evil.example.png").symlink_to(outside / "real.png")
    data = DataDir(tmp_path / "data")
    summary = import_folder(src, data, workers=0)
    assert summary.reasons == {"symlink_outside_folder": 1} and summary.ok == 2
    records = read_manifest(data.manifest).records
    assert sorted(records) == ["alias.example", "inside.example"]
    assert all(str(outside) not in (r.logo_url or "") for r in records.values())
    followed = import_folder(src, DataDir(tmp_path / "data2"), workers=0, follow_symlinks=True)
    assert followed.ok == 3
