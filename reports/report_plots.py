"""The report's figures (matplotlib, Agg): one colour and marker per implementation, the same
in every figure of a report, chosen from the implementations in the data: a hue per backend,
a shade of it per implementation."""
from __future__ import annotations

import colorsys
import io
import math
import zlib

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, NullFormatter,  # noqa: E402
                               NullLocator)

from report_model import (CEILING_LABELS, REFERENCE_SHORT, fmt_bytes, fmt_count,  # noqa: E402
                          fmt_seconds, impl_sort_key)

# A hue per backend of report_model.BACKEND_ORDER; each backend's implementations present in a
# report get shades of it, in name order, and markers in the same order, so the colours listed
# are those of the data. Other backends (plugins) take the hues of OTHER.
HUES = {"seq": "#222222", "thread": "#1f77b4", "tbb": "#2ca02c", "mpi": "#ff7f0e",
        "mpi4py": "#9467bd", "cuda": "#d62728"}
OTHER = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#6b4226", "#ad1457",
         "#00796b"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
CEILING_COLOURS = {"host_copy": "#555555", "host_read": "#555555", "device_copy": "#8b0000"}
REFERENCE_COLOUR = "#777777"
BUSY_COLOUR = "#e69500"     # the ring around a point measured under contention


def _h(s: str) -> int:
    return zlib.crc32(s.encode())   # stable across runs, unlike hash()


def _hues(backends) -> dict:
    """{backend: hue}: BACKEND_ORDER's own; any other the OTHER hue its name hashes to, or the
    next one no other backend of the report took (two plugins never share a hue while OTHER
    has hues left), in name order."""
    out = {b: HUES[b] for b in backends if b in HUES}
    taken: set = set()
    for b in sorted(set(backends) - set(HUES)):
        start = _h(b) % len(OTHER)
        ring = OTHER[start:] + OTHER[:start]
        out[b] = next((c for c in ring if c not in taken), ring[0])
        taken.add(out[b])
    return out


def _shade(colour: str, i: int, n: int) -> str:
    """The i-th of n shades of a colour: the colour itself for one, else lightness spread from
    darker to lighter around it (greys for the black of seq)."""
    if n <= 1:
        return colour
    r, g, b = (int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5))
    h, light, sat = colorsys.rgb_to_hls(r, g, b)
    lo, hi = max(0.18, light - 0.22), min(0.78, light + 0.22)
    light = lo + (hi - lo) * i / (n - 1)
    r, g, b = colorsys.hls_to_rgb(h, light, sat)
    return "#" + "".join(f"{round(255 * c):02x}" for c in (r, g, b))


def palette(impls) -> dict:
    """{impl: {color, marker, linestyle}} for the implementations of one report: the hue from
    the backend prefix, the shade and marker from the implementation's place among its
    backend's implementations present, in name order."""
    by_backend: dict = {}
    for impl in sorted(set(impls)):
        by_backend.setdefault(impl.partition(".")[0], []).append(impl)
    hues = _hues(by_backend)
    out = {}
    for backend, names in by_backend.items():
        for i, impl in enumerate(names):
            out[impl] = {"color": _shade(hues[backend], i, len(names)),
                         "marker": MARKERS[i % len(MARKERS)],
                         "linestyle": "--" if impl == "seq.ref" else "-"}
    return out


def style(impl: str, impls=None) -> dict:
    """One implementation's style among impls (the report's implementations; alone if None)."""
    return palette(list(impls or ()) + [impl])[impl]


# ---- tick placement ---------------------------------------------------------------------
def _pow2_ticks(ax, axis: str, lo: float, hi: float, fmt):
    """Ticks at powers of two, at most ~7 of them, formatted with binary units."""
    lo, hi = max(lo, 1), max(hi, 1)
    a, b = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    step = 1
    while (b - a) / step > 6:
        step *= 2
    ticks = [2.0 ** k for k in range(a - a % step, b + 1, step)]
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())


def _log_y(ax, fmt):
    """Log y axis; call after plotting. Narrow ranges get 2 and 5 ticks between decades."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 9
    subs = (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.yaxis.set_minor_locator(NullLocator())   # minor log ticks cost more than they tell


def _new(n_panels: int, title: str):
    """Panels in up to three columns, plus a column on the right that holds the legend."""
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(4.3 * ncols + 2.3, 3.3 * nrows + 0.6), dpi=100, layout="constrained")
    gs = fig.add_gridspec(nrows, ncols + 1, width_ratios=[4.3] * ncols + [2.1])
    axes = [fig.add_subplot(gs[i // ncols, i % ncols]) for i in range(n_panels)]
    legend_ax = fig.add_subplot(gs[:, ncols])
    legend_ax.axis("off")
    fig.suptitle(title, fontsize=12, fontweight="bold")
    return fig, axes


def _legend(fig, impls: list, pal: dict, extra: list = (), busy: bool = False):
    handles = [Line2D([], [], color=pal[i]["color"], marker=pal[i]["marker"],
                      linestyle=pal[i]["linestyle"], label=i) for i in impls]
    handles += list(extra)
    if busy:
        handles.append(Line2D([], [], marker="o", markersize=10, markerfacecolor="none",
                              markeredgecolor=BUSY_COLOUR, markeredgewidth=1.8, linestyle="",
                              label="measured under contention\n(busy machine)"))
    fig.axes[-1].legend(handles=handles, loc="center left", title="implementation",
                        fontsize=9, title_fontsize=9, frameon=False, borderaxespad=0)


def _plot(ax, impl, st, xs, ys, lo=None, hi=None, busy=None):
    """One implementation's series; points measured under contention get a ring. Returns
    whether any did."""
    yerr = None
    if lo is not None and any(v is not None for v in lo):
        yerr = [[y - (l if l is not None else y) for y, l in zip(ys, lo)],
                [(h if h is not None else y) - y for y, h in zip(ys, hi)]]
    ax.errorbar(xs, ys, yerr=yerr, color=st["color"], marker=st["marker"],
                linestyle=st["linestyle"], linewidth=1.5, markersize=4.5, capsize=2.5,
                elinewidth=1, label=impl)
    ringed = [(x, y) for x, y, b in zip(xs, ys, busy or ()) if b]
    if ringed:
        ax.scatter([x for x, _ in ringed], [y for _, y in ringed], s=110, facecolors="none",
                   edgecolors=BUSY_COLOUR, linewidths=1.8, zorder=5,
                   label=f"{impl} (busy)")
    return bool(ringed)


def _finish(ax):
    ax.grid(True, which="major", alpha=0.3)
    ax.tick_params(labelsize=8)


# ---- the four figures -------------------------------------------------------------------
def time_figure(rep, primitive, subtitle):
    data = rep.by_ranks_impl(primitive)
    ranks = rep.panel_ranks(primitive)
    fig, axes = _new(len(ranks), f"{primitive}: time per collective vs count per rank"
                                 f"  ({subtitle})")
    pal = palette(rep.impls())
    impls = set()
    busy = False
    for ax, P in zip(axes, ranks):
        xs_all, ys_all = [], []
        for impl, ps in sorted(data.get(P, {}).items()):
            impls.add(impl)
            xs = [p.count for p in ps]
            busy |= _plot(ax, impl, pal[impl], xs, [p.time for p in ps], [p.lo for p in ps],
                          [p.hi for p in ps], [bool(p.busy) for p in ps])
            xs_all += xs
            ys_all += [p.time for p in ps]
        ax.set_xscale("log", base=2)
        _log_y(ax, fmt_seconds)
        if xs_all:
            _pow2_ticks(ax, "x", min(xs_all), max(xs_all), fmt_count)
        ax.set_title(f"P = {P} rank{'s' if P != 1 else ''}", fontsize=10)
        ax.set_xlabel("count per rank (elements)", fontsize=9)
        ax.set_ylabel("time per collective (median; bars min–max)", fontsize=9)
        _finish(ax)
    _legend(fig, sorted(impls, key=impl_sort_key), pal, busy=busy)
    return fig


def bandwidth_figure(rep, primitive, subtitle):
    data = rep.by_ranks_impl(primitive)
    ranks = rep.panel_ranks(primitive)
    lines = rep.ceiling_lines(primitive)
    fig, axes = _new(len(ranks), f"{primitive}: algorithm bandwidth vs bytes moved"
                                 f"  ({subtitle})")
    pal = palette(rep.impls())
    impls = set()
    extra = []
    busy = False
    for kind, raw, at in lines:
        extra.append(Line2D([], [], color=CEILING_COLOURS[kind], linestyle=":", linewidth=2,
                            label=f"start-of-run ceiling:\n{CEILING_LABELS[kind]}"
                                  f"\n({raw:.3g} GB/s measured)"))
    refs_drawn = set()
    for ax, P in zip(axes, ranks):
        xs_all = []
        for impl, ps in sorted(data.get(P, {}).items()):
            ps = [p for p in ps if p.algbw]
            if not ps:
                continue
            impls.add(impl)
            xs = [p.bytes for p in ps]
            # error bars on bandwidth mirror the time bars: slowest repetition = lowest bw
            lo = [p.bytes / p.hi / 1e9 if p.hi else None for p in ps]
            hi = [p.bytes / p.lo / 1e9 if p.lo else None for p in ps]
            busy |= _plot(ax, impl, pal[impl], xs, [p.algbw for p in ps], lo, hi,
                          [bool(p.busy) for p in ps])
            xs_all += xs
        for kind, raw, at in rep.ceiling_lines(primitive, P):
            ax.axhline(at, color=CEILING_COLOURS[kind], linestyle=":", linewidth=2)
        for kind, pts in rep.reference_series(primitive, P).items():
            ax.plot([b for b, _ in pts], [y for _, y in pts], color=REFERENCE_COLOUR,
                    linestyle="-.", linewidth=1.2, marker="x", markersize=4, zorder=1,
                    label=f"reference ({kind})")
            refs_drawn.add(kind)
        ax.set_xscale("log", base=2)
        _log_y(ax, lambda v: f"{v:g}")
        if xs_all:
            _pow2_ticks(ax, "x", min(xs_all), max(xs_all), fmt_bytes)
        ax.set_title(f"P = {P} rank{'s' if P != 1 else ''}", fontsize=10)
        ax.set_xlabel("bytes moved by the collective", fontsize=9)
        ax.set_ylabel("algbw (GB/s, 1e9 B/s)", fontsize=9)
        _finish(ax)
    for kind in sorted(refs_drawn):
        extra.append(Line2D([], [], color=REFERENCE_COLOUR, linestyle="-.", marker="x",
                            markersize=4, label=f"{REFERENCE_SHORT[kind]}\nbeside each "
                                                "benchmark\n(100 % of peak)"))
    _legend(fig, sorted(impls, key=impl_sort_key), pal, extra, busy=busy)
    return fig


def speedup_figure(rep, primitive, subtitle):
    data = rep.speedup_series(primitive)
    ranks = [P for P in rep.panel_ranks(primitive) if P in data]
    if not ranks:
        return None
    fig, axes = _new(len(ranks), f"{primitive}: speedup over {rep.baseline}  ({subtitle})")
    pal = palette(rep.impls())
    impls = set()
    busy = False
    for ax, P in zip(axes, ranks):
        xs_all = []
        for impl, pts in sorted(data[P].items()):
            impls.add(impl)
            busy |= _plot(ax, impl, pal[impl], [c for c, _, _ in pts], [s for _, s, _ in pts],
                          busy=[b for _, _, b in pts])
            xs_all += [c for c, _, _ in pts]
        ax.axhline(1.0, color="#222222", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        _log_y(ax, lambda v: f"{v:g}×")
        if xs_all:
            _pow2_ticks(ax, "x", min(xs_all), max(xs_all), fmt_count)
        ax.set_title(f"P = {P} rank{'s' if P != 1 else ''}", fontsize=10)
        ax.set_xlabel("count per rank (elements)", fontsize=9)
        ax.set_ylabel(f"speedup over {rep.baseline} (×, >1 faster)", fontsize=9)
        _finish(ax)
    base = Line2D([], [], color="#222222", linestyle="--", label=f"{rep.baseline} (= 1×)")
    _legend(fig, sorted(impls, key=impl_sort_key), pal, [base], busy=busy)
    return fig


def scaling_figure(rep, primitive, subtitle):
    counts = [n for n in rep.scaling_counts(primitive) if rep.scaling_series(primitive, n)]
    if not counts:
        return None
    fig, axes = _new(len(counts), f"{primitive}: scaling with rank count at a fixed size"
                                  f"  ({subtitle})")
    pal = palette(rep.impls())
    impls = set()
    busy = False
    for ax, n in zip(axes, counts):
        xs_all = []
        for impl, ps in sorted(rep.scaling_series(primitive, n).items()):
            impls.add(impl)
            xs = [p.ranks for p in ps]
            busy |= _plot(ax, impl, pal[impl], xs, [p.time for p in ps], [p.lo for p in ps],
                          [p.hi for p in ps], [bool(p.busy) for p in ps])
            xs_all += xs
        ax.set_xscale("log", base=2)
        _log_y(ax, fmt_seconds)
        ticks = sorted(set(xs_all))
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"count per rank = {fmt_count(n)} element{'s' if n != 1 else ''}",
                     fontsize=10)
        ax.set_xlabel("ranks (P)", fontsize=9)
        ax.set_ylabel("time per collective (median; bars min–max)", fontsize=9)
        _finish(ax)
    _legend(fig, sorted(impls, key=impl_sort_key), pal, busy=busy)
    return fig


FIGURES = (("time", time_figure), ("bandwidth", bandwidth_figure),
           ("speedup", speedup_figure), ("scaling", scaling_figure))


def save(fig, out_dir, stem) -> bytes:
    """Write stem.png and stem.svg; return the PNG bytes (embedded in the HTML page)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    png = buf.getvalue()
    (out_dir / f"{stem}.png").write_bytes(png)
    fig.set_layout_engine("none")      # laid out once for the PNG; the SVG reuses it
    fig.savefig(out_dir / f"{stem}.svg", format="svg", metadata={"Date": None})
    return png
