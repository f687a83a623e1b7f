"""Drawing a range query's series as a PNG with matplotlib's Agg canvas.

matplotlib is imported when a picture is drawn, never when the pack is listed. No
pyplot and no global backend: each picture is its own ``Figure`` on a
``FigureCanvasAgg``, so drawing from worker threads is safe and leaves nothing behind.
The picture has its own opaque background (light or dark), so it reads the same on a
light or a dark chat theme.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from opspack_prometheus.units import Unit, format_value

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

Theme = Literal["light", "dark"]
#: colours in the PNG's palette
COLORS = 128

#: (background, axes, text, grid) per theme; the dark one is Slack's dark background
THEMES: dict[str, tuple[str, str, str, str]] = {
    "light": ("#ffffff", "#ffffff", "#1d1c1d", "#d9d9d9"),
    "dark": ("#1a1d21", "#1a1d21", "#e8e8e8", "#3a3d42"),
}
#: 30 distinct colours that read on both backgrounds: matplotlib's tab10, then picks from tab20b and tab20c
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#e6550d",
    "#31a354",
    "#ad494a",
    "#756bb1",
    "#8c6d31",
    "#d6616b",
    "#636363",
    "#637939",
    "#3182bd",
    "#843c39",
    "#fd8d3c",
    "#74c476",
    "#7b4173",
    "#9e9ac8",
    "#bd9e39",
    "#e7969c",
    "#969696",
    "#8ca252",
    "#6baed6",
]


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its legend label and its points (epoch seconds, values)."""

    label: str
    times: Sequence[float]
    values: Sequence[float]


def plain(text: str) -> str:
    """``text`` shown as typed: a ``$`` would otherwise start matplotlib's math mode."""
    return text.replace("$", r"\$")


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def with_gaps(times: Sequence[float], values: Sequence[float], step: float) -> tuple[list[float], list[float]]:
    """The points with a NaN wherever a sample is missing for more than a step and a half,
    so the line breaks there instead of joining across the gap."""
    gap = step * 1.5
    if all(b - a <= gap for a, b in itertools.pairwise(times)):  # the usual case: none
        return list(times), list(values)
    xs: list[float] = []
    ys: list[float] = []
    previous = None
    for t, v in zip(times, values, strict=True):
        if previous is not None and t - previous > gap:
            xs.append(previous + step)
            ys.append(math.nan)
        xs.append(t)
        ys.append(v)
        previous = t
    return xs, ys


def draw_png(
    series: Sequence[Series],
    *,
    title: str,
    subtitle: str = "",
    step: float,
    unit: Unit | None = None,
    width: int = 1000,
    height: int = 500,
    theme: Theme = "light",
    start: float | None = None,
    end: float | None = None,
) -> bytes:
    """The series drawn as lines on a time axis (UTC) with a legend; PNG bytes of ``width`` x ``height``.

    ``start`` and ``end`` (epoch seconds) make the axis span the range asked for, not only
    the samples found in it."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    background, face, text, grid = THEMES[theme]
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=background)
    canvas = FigureCanvasAgg(fig)
    legend = len(series) > 1
    # the legend takes the right quarter when there is one
    ax = fig.add_axes((0.07, 0.1, 0.66 if legend else 0.9, 0.78))
    ax.set_facecolor(face)
    for i, s in enumerate(series):
        xs, ys = with_gaps(s.times, s.values, step)
        ax.plot(
            [x / 86400.0 for x in xs],  # matplotlib's dates: days since 1970-01-01
            ys,
            color=PALETTE[i % len(PALETTE)],
            linewidth=1.3,
            antialiased=True,
            # a lone sample has no neighbour to draw a line to: show it as a dot
            marker="o" if len(s.values) <= 2 else None,
            markersize=3,
        )
    ax.xaxis_date(tz="UTC")
    if start is not None and end is not None and end > start:
        ax.set_xlim(start / 86400.0, end / 86400.0)
    finite = [v for s in series for v in s.values if math.isfinite(v)]
    if finite and min(finite) == max(finite):  # a flat line: show it against zero, not in a 0.08 band
        level = finite[0]
        ax.set_ylim(min(0.0, level * 1.1), max(0.0, level * 1.1) or 1.0)
    locator = mdates.AutoDateLocator(tz=mdates.UTC, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=mdates.UTC))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    if unit:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_value(v, unit)))
    ax.grid(True, color=grid, linewidth=0.6)
    ax.tick_params(colors=text, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color(grid)
    fig.text(0.07, 0.95, plain(title), color=text, fontsize=10, fontweight="bold", ha="left", va="center")
    if subtitle:
        fig.text(0.07, 0.915, plain(subtitle), color=text, fontsize=8, ha="left", va="center", alpha=0.8)
    if legend:
        _legend(fig, series, text=text, width=width, height=height, left=0.07 + 0.66 + 0.015, top=0.88)
    canvas.draw()  # type: ignore[no-untyped-call]
    return _png(canvas)


def _legend(
    fig: Figure, series: Sequence[Series], *, text: str, width: int, height: int, left: float, top: float
) -> None:
    """A key and a label per series, down the right quarter: one collection of keys and one
    text per label (matplotlib's Legend lays out a box per entry: a third of the drawing time)."""
    from matplotlib.collections import LineCollection

    fontsize = 8 if len(series) <= 16 else 7 if len(series) <= 24 else 6
    # the labels' room, at about 0.9 em a character (wide ones: digits, capitals)
    fits = max(12, int(((1 - left) * width - 30) / (0.9 * fontsize)))
    pitch = min(fontsize * 1.7 / height, 0.8 / len(series))  # figure fraction between two entries
    key = 22 / width
    keys = []
    for i, s in enumerate(series):
        y = top - i * pitch
        keys.append([(left, y), (left + key, y)])
        fig.text(left + key + 6 / width, y, plain(cut(s.label, fits)), color=text, fontsize=fontsize, va="center")
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    fig.add_artist(LineCollection(keys, colors=colors, linewidths=2.5, transform=fig.transFigure))


def _png(canvas: FigureCanvasAgg) -> bytes:
    """The canvas as a PNG with a palette of at most :data:`COLORS` colours: the lines'
    antialiasing makes thousands of shades, and a palette keeps the file about four times
    smaller (20 series x 720 points at 1000x500: about 70 KB instead of 300 KB)."""
    from PIL import Image

    width, height = canvas.get_width_height()
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    rgb = Image.frombuffer("RGBA", (width, height), rgba).convert("RGB")
    paletted = rgb.quantize(colors=COLORS, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    paletted.save(buf, format="PNG")
    return buf.getvalue()
