"""`orrery sim` end to end: run a small experiment, check its outputs, and render report.html in
headless Chromium to prove the page draws (the screenshot lands in .artifacts/sim-report.png).

Chromium is optional on a developer machine (the test skips without it) but required in CI
(CI=true), where scripts/test installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORRERY_BIN = Path(os.environ.get("ORRERY_BIN", ROOT / "target" / "debug" / "orrery"))
EXPERIMENT = ROOT / "tests" / "e2e" / "data" / "sim-small.toml"
ARTIFACT = ROOT / ".artifacts" / "sim-report.png"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_colours(png: bytes, limit: int = 16) -> int:
    """How many distinct pixel values the top 600 rows of the PNG have, counting up to `limit`
    (8-bit RGB or RGBA, non-interlaced, as Chromium writes screenshots). Pure Python, so only
    the top of the page is decoded, which is where the title and the first table are."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev, seen = bytearray(stride), set()
    for y in range(min(height, 600)):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + b) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        if y % 16 == 0:
            for x in range(0, stride, channels * 16):
                seen.add(bytes(row[x : x + channels]))
            if len(seen) >= limit:
                return limit
        prev = row
    return len(seen)


def test_sim_writes_a_report_that_renders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [str(ORRERY_BIN), "sim", str(EXPERIMENT), "--out", str(out), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "Variant" in run.stdout and "pack-8x" in run.stdout, run.stdout

    results = json.loads((out / "results.json").read_text())
    names = [v["name"] for v in results["variants"]]
    assert names == ["spread", "pack", "pack-8x"]
    for v in results["variants"]:
        assert len(v["runs"]) == 2
        assert v["summary"]["accepted"]["mean"] > 100
    spread, pack = results["variants"][0], results["variants"][1]
    assert pack["summary"]["active_hosts_mean"]["mean"] < spread["summary"]["active_hosts_mean"]["mean"]
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Spread vs pack" in html
    assert (out / "timings.json").exists() and (out / "summary.csv").exists()

    chromium = _chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/test installs it when run as root)")
        pytest.skip("chromium is not installed")
    png = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        shot = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                "--window-size=1400,2400",
                (out / "report.html").resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert png.exists(), f"chromium wrote no screenshot: {shot.stderr[-2000:]}"
    data = png.read_bytes()
    assert len(data) > 20_000, f"the screenshot is suspiciously small ({len(data)} bytes)"
    assert _png_colours(data) >= 4, "the screenshot is (nearly) a single colour: nothing was drawn"
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, ARTIFACT)
