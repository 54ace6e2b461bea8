"""The HTML report: one self-contained page, every user string escaped, three charts that a real browser draws.

The browser test needs Debian's `chromium` package (CI installs it); it is skipped, saying why, without it.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from edgebert.report import render_report
from edgebert.report.charts import pareto_front, quantile
from edgebert.report.svg import Scale, Svg, nice_step
from report_fixtures import make_results, run, three_runs, write_results

EVIL = "<script>alert(1)</script>"


def evil_runs(tmp_path: Path) -> list[Path]:
    """fp32, int8 and pruned results where every user-supplied string tries to inject markup."""
    docs = [make_results(v) for v in ("fp32", "int8", "pruned")]
    docs[1]["bundle"]["label"] = EVIL
    docs[2]["bundle"]["path"] = '"><img src=x onerror=alert(2)>'
    for d in docs:
        d["accuracy"]["dataset"] = "<b>rt</b>:test"
        d["environment"]["hostname"] = "host'\"<i>"
    return [write_results(tmp_path, f"{i}.json", d) for i, d in enumerate(docs)]


def test_user_strings_are_escaped(tmp_path):
    page = render_report(evil_runs(tmp_path), "html")
    assert EVIL not in page and "<img" not in page and "<b>rt" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script" not in page.lower()  # the page has no script at all


def test_page_is_self_contained(tmp_path):
    page = render_report(three_runs(tmp_path), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for fetch in ("http:", "https:", "src=", "<link", "@import", "url(", "<iframe", "<object"):
        assert fetch not in page.lower(), fetch
    # The CSP meta forbids every load the page could attempt, so a slip could not reach the network either.
    assert "Content-Security-Policy" in page and "default-src &#x27;none&#x27;" in page


def test_three_charts_with_a_mark_per_bundle(tmp_path):
    page = render_report(three_runs(tmp_path), "html")
    charts = re.findall(r'<svg class="chart".*?</svg>', page, flags=re.S)
    assert len(charts) == 3
    latency, pareto, size = charts
    off_scale = sum(int(n) for n in re.findall(r"</title>\+(\d+)</text>", latency))  # the slowest outliers
    assert latency.count("<circle") + off_scale == 3 * 1275  # every timed call of the headline workload, 3 bundles
    assert off_scale < 3 * 1275 * 0.01
    assert pareto.count("<circle") == 3 + 2  # three bundles + the two legend marks
    assert size.count("<rect") == 6  # a bar and a gzip bar per bundle


def test_pareto_chart_leaves_out_runs_without_a_usable_point(tmp_path):
    docs = [make_results("fp32"), make_results("int8", target="arm64-pi5", emulated=True)]
    page = render_report([write_results(tmp_path, f"{i}.json", d) for i, d in enumerate(docs)], "html")
    assert "not shown (no accuracy or emulated): arm64-pi5 onnx int8" in page
    assert "arm64-pi5 onnx int8 (emulated)" in page


@pytest.mark.parametrize(
    "points, front",
    [
        ([(10, 80), (5, 82), (8, 79)], [1]),  # one bundle is faster and more accurate than the rest
        ([(10, 83), (5, 82), (3, 79)], [2, 1, 0]),  # a real trade-off: all on the front, by latency
        ([(5, 82), (5, 82)], [0, 1]),  # ties dominate nothing
        ([(5, 82), (5, 81)], [0]),  # as fast, less accurate: dominated
        ([(4, 80)], [0]),
    ],
)
def test_pareto_front(points, front):
    assert pareto_front(points) == front


@pytest.mark.parametrize(
    "lo, hi, ticks",
    [
        (0, 10, [0, 2, 4, 6, 8, 10]),
        (0, 93.5, [0, 20, 40, 60, 80]),
        (79.3, 83.1, [80, 81, 82, 83]),
        (0.012, 0.049, [0.02, 0.03, 0.04]),
    ],
)
def test_linear_ticks_are_round_numbers(lo, hi, ticks):
    assert Scale(lo, hi, 0, 100).ticks() == ticks


def test_scales_map_the_domain_onto_pixels():
    s = Scale(0, 10, 100, 200)
    assert (s(0), s(5), s(10)) == (100, 150, 200)
    log = Scale(1, 100, 0, 200, log=True)
    assert log(10) == pytest.approx(100) and log.ticks() == [1, 2, 5, 10, 20, 50, 100]
    assert Scale(5, 5, 0, 100)(5) == pytest.approx(50)  # one value lands mid-axis
    assert nice_step(7, 5) == 2 and nice_step(0.3, 3) == 0.1


def test_quantile_matches_numpy():
    np = pytest.importorskip("numpy")
    xs = sorted([3.0, 1.0, 4.0, 1.5, 9.2, 2.6, 5.3])
    for q in (0.01, 0.25, 0.5, 0.75, 0.99):
        assert quantile(xs, q) == pytest.approx(float(np.percentile(xs, q * 100)))


def test_svg_escapes_text_and_attributes():
    svg = Svg(10, 10, 'a"<b>')
    svg.text(1, 2, "<script>", tooltip="</title><x>", class_="c")
    out = svg.render()
    assert "<script>" not in out and "&lt;script&gt;" in out and "&lt;/title&gt;&lt;x&gt;" in out
    assert 'aria-label="a&quot;&lt;b&gt;"' in out and 'class="c"' in out


# --- In a real browser -------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1440,2400",
]

# Injected into a copy of the page, before its CSP takes effect: after load, it writes what the browser laid out
# (each chart's size and how many marks it holds) and any script error into the DOM for --dump-dom to return.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    const marks = [...s.querySelectorAll('rect, circle, line, polyline')].filter(m => {
      const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
    return {width: r.width, height: r.height, marks: marks.length, label: s.getAttribute('aria-label')};
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({charts, errors: window.__errors});
  document.body.appendChild(pre);
});
</script>"""


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{uuid.uuid4().hex[:8]}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url], capture_output=True, text=True, timeout=180
    )


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console (errors, CSP violations), as Chromium logs it with --enable-logging."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_chromium_draws_three_charts_without_console_errors(tmp_path):
    page_path = tmp_path / "report.html"
    result = run("report", *evil_runs(tmp_path), "--out", page_path)
    assert result.exit_code == 0, result.output
    page = page_path.read_text()

    # 1. The page as shipped: loads, and logs nothing (a blocked fetch or script would log a CSP violation).
    shipped = chromium(tmp_path, page_path.as_uri(), "--dump-dom")
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    assert console_messages(shipped.stderr) == []
    assert shipped.stdout.count('<svg class="chart"') == 3

    # 2. The detector works: the same page with one external image logs a violation.
    leaky = tmp_path / "leaky.html"
    leaky.write_text(page.replace("</body>", '<img src="https://example.invalid/x.png"></body>'))
    assert console_messages(chromium(tmp_path, leaky.as_uri(), "--dump-dom").stderr)

    # 3. Laid out by the browser: three charts of real size, each with its marks, and no script errors.
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    out = chromium(tmp_path, probed.as_uri(), "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, flags=re.S)
    assert found, out.stderr[-2000:]
    probe = json.loads(
        found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    assert probe["errors"] == []
    labels = [c["label"] for c in probe["charts"]]
    assert [lbl.split(",")[0].split(" per")[0] for lbl in labels] == [
        "Latency distribution",
        "Accuracy against p50 latency",
        "Model size",
    ]
    for chart in probe["charts"]:
        assert chart["width"] > 400 and chart["height"] > 100, chart
    latency, pareto, size = (c["marks"] for c in probe["charts"])
    assert latency >= 3 * 1275 and pareto >= 3 and size >= 6

    # 4. A screenshot: the lead or a reviewer can look at it; here it must at least be a full, non-blank page.
    shot = tmp_path / "report.png"
    taken = chromium(tmp_path, page_path.as_uri(), f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    assert png_size(shot) == (1440, 2400)
    assert shot.stat().st_size > 60_000  # a blank page of this size compresses to a few kB
    assert console_messages(taken.stderr) == []
