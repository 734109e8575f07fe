"""A real browser opens the report from disk: every image loads, no console errors.

Uses Debian's headless chromium over the DevTools pipe (tests/reports/browser.py, stdlib only).
The screenshot and the report itself are kept in $PRIMBENCH_ARTIFACTS (default
build/test-artifacts/). Skipped, saying why, only where chromium is not installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE))

import browser  # noqa: E402

CHROMIUM = browser.find_chromium()
SKIP_WHY = ("chromium is not installed (CI installs Debian's 'chromium' package; "
            "locally: apt-get install chromium, or set PRIMBENCH_CHROMIUM)")


def artifacts_dir() -> Path:
    d = Path(os.environ.get("PRIMBENCH_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


@unittest.skipIf(CHROMIUM is None, SKIP_WHY)
class BrowserTest(unittest.TestCase):
    def render(self, out: Path, *inputs):
        proc = subprocess.run([sys.executable, str(ROOT / "reports" / "report.py"),
                               *map(str, inputs), "-o", str(out)],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return out / "index.html"

    def test_report_in_browser(self):
        with tempfile.TemporaryDirectory() as tmp:
            index = self.render(Path(tmp, "report"), FIX / "cpu.json", FIX / "gpu.json",
                                FIX / "mpi4py.json")
            page = browser.open_page(index.as_uri())
            art = artifacts_dir()
            shot = art / "report-screenshot.png"
            shot.write_bytes(page["screenshot"])
            shutil.rmtree(art / "report", ignore_errors=True)
            shutil.copytree(index.parent, art / "report")
        self.assertEqual(page["title"], "primbench report")
        self.assertEqual(page["errors"], [])
        self.assertEqual(len(page["images"]), 12)
        for img in page["images"]:
            self.assertTrue(img["complete"] and img["width"] > 300 and img["height"] > 200,
                            img)
        self.assertEqual(shot.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")

    def test_empty_report_in_browser(self):
        with tempfile.TemporaryDirectory() as tmp:
            index = self.render(Path(tmp, "report"), FIX / "empty.json")
            page = browser.open_page(index.as_uri())
            (artifacts_dir() / "report-empty-screenshot.png").write_bytes(page["screenshot"])
        self.assertEqual(page["errors"], [])
        self.assertEqual(page["images"], [])

    def test_harness_sees_broken_pages(self):
        """The checks above can fail: a missing image and a console error are both seen."""
        with tempfile.TemporaryDirectory() as tmp:
            bad = Path(tmp, "bad.html")
            bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,">'
                           '<title>bad</title></head><body><img src="missing.png" alt="x">'
                           '<script>console.error("boom")</script></body></html>')
            page = browser.open_page(bad.as_uri())
        self.assertEqual(page["images"][0]["width"], 0)
        self.assertTrue(any("console.error: boom" in e for e in page["errors"]), page)
        self.assertTrue(any("ERR_FILE_NOT_FOUND" in e for e in page["errors"]), page)


if __name__ == "__main__":
    unittest.main()
