"""`graph`: a real range query drawn with matplotlib; the PNG is decoded and looked at, never compared."""

from __future__ import annotations

import subprocess
import sys

from conftest import RunFn, by_kind, decode_png
from opspack_prometheus.draw import PALETTE, THEMES
from opspack_testkit import check_rendering


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _close(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    """Within the palette's rounding of each other."""
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 12


def _count(image: object, rgb: tuple[int, int, int]) -> int:
    """Pixels of (nearly) this colour."""
    colors = image.getcolors(maxcolors=1 << 20)  # type: ignore[attr-defined]
    return sum(n for n, c in colors if _close(c, rgb))


def test_graph_draws_each_series_as_a_line_in_its_colour(run: RunFn) -> None:
    reply = run("graph 'demo_memory_used_bytes' --range 5m --step 1s", fmt="slack")
    assert reply.ok, reply.error
    image, link = reply.results
    assert image.kind == "image" and image.mime == "image/png"
    assert (image.width, image.height) == (1000, 500)
    assert "2 series" in image.alt and "demo_memory_used_bytes" in image.alt
    png = decode_png(image.data)
    assert png.size == (1000, 500)
    assert _close(png.getpixel((2, 2)), _rgb(THEMES["light"][0]))
    for color in PALETTE[:2]:  # two series, two lines (and their legend keys)
        assert _count(png, _rgb(color)) > 50, f"no line drawn in {color}"
    assert _count(png, _rgb(PALETTE[2])) == 0, "no third series"
    assert len(image.data) < 150_000
    assert "g0.tab=0" in link.url and "g0.range_input=5m" in link.url
    check_rendering(reply)


def test_graph_dark_theme_and_teams_size(run: RunFn) -> None:
    reply = run("graph up --range 10m --theme dark --width 2000 --height 1000", fmt="teams")
    assert reply.ok, reply.error
    image = by_kind(reply, "image")[0]
    assert (image.width, image.height) == (1024, 512) and "scaled to 1024x512 for teams" in image.alt
    png = decode_png(image.data)
    assert png.size == (1024, 512)
    assert _close(png.getpixel((2, 2)), _rgb(THEMES["dark"][0]))
    assert _count(png, _rgb(PALETTE[0])) > 50


def test_the_series_limit_is_enforced_before_drawing(run: RunFn) -> None:
    reply = run("graph '{__name__=~\"demo_.*\"}' --range 5m", OPSPACK_PROMETHEUS_MAX_SERIES="3")
    assert not reply.ok and reply.error.kind == "usage"
    assert "returned 7 series; a graph draws at most 3" in reply.error.message
    assert "topk(" in (reply.error.hint or "")


def test_graph_errors_and_empty_results(run: RunFn) -> None:
    bad = run("graph 'rate(up[5m]'")
    assert bad.error.kind == "usage" and "parse error" in bad.error.message
    too_fine = run("graph up --range 2d --step 1s")
    assert too_fine.error.kind == "usage" and "11,000" in too_fine.error.message
    wrong_range = run("graph up --range soon")
    assert wrong_range.error.kind == "usage" and "range" in wrong_range.error.message
    empty = run("graph 'up{job=\"nothing\"}' --range now-1h")
    assert empty.ok and empty.results[0].kind == "status" and "no data" in empty.results[0].message
    past = run("graph up --range 30m --end now-1d")
    assert past.ok and past.results[0].kind == "status"


def test_drawing_uses_no_pyplot_and_the_package_imports_no_matplotlib() -> None:
    code = (
        "import sys, opspack_prometheus, opspack_prometheus.graph, opspack_prometheus.alerts;"
        "assert 'matplotlib' not in sys.modules and 'requests' not in sys.modules, 'imported eagerly';"
        "from opspack_prometheus.draw import Series, draw_png;"
        "png = draw_png([Series('a', [0, 60, 120], [1, 2, 3])], title='t', step=60);"
        "assert png[:8] == b'\\x89PNG\\r\\n\\x1a\\n';"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
