"""Plot the side-by-side comparison with PyTorch: the picture on docs/performance.md.

Reads the JSON that ``compare_torch.py --json`` writes and draws two panels:
GFLOP/s of fastconv and of PyTorch at its best for every convolution layer
(forward, and forward+backward), and the time ratio fastconv/PyTorch of every
convolution and pooling row on a log scale (below 1: fastconv is faster), with
the issue's bounds (1.0 and 1.3) marked. Run from the repository root::

    python benchmarks/compare_torch.py --json /tmp/performance.json
    python benchmarks/plot_performance.py /tmp/performance.json            # writes docs/performance.png
    python benchmarks/plot_performance.py /tmp/performance.json -o out.png
"""

import argparse
import json
import sys
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "performance.png"
COLORS = {"fastconv": "#1f77b4", "torch": "#ff7f0e"}
PASS_SHADES = {"forward": 1.0, "forward+backward": 0.55}


def _short_pass(pass_name):
    return {"forward": "fwd", "forward+backward": "fwd+bwd"}.get(pass_name, pass_name)


def draw(report, output):
    """Draw ``report`` (the parsed JSON of ``compare_torch.py``) into the image file ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from matplotlib.ticker import FormatStrFormatter

    conv, pool = report.get("conv", []), report.get("pool", [])
    layers = list(dict.fromkeys(row["label"] for row in conv))
    passes = list(dict.fromkeys(row["pass_name"] for row in conv))
    ratio_rows = conv + pool
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9), gridspec_kw=dict(height_ratios=(1, 1.15)))

    # GFLOP/s: one group of bars per layer, fastconv and torch for each pass.
    width = 0.8 / max(1, 2 * len(passes))
    for p, pass_name in enumerate(passes):
        rows = {row["label"]: row for row in conv if row["pass_name"] == pass_name}
        for f, family in enumerate(("fastconv", "torch")):
            offset = (2 * p + f - (2 * len(passes) - 1) / 2) * width
            values = [rows[label][f"{family}_gflops"] if label in rows else 0 for label in layers]
            color = to_rgba(COLORS[family], PASS_SHADES.get(pass_name, 1.0))
            top.bar([i + offset for i in range(len(layers))], values, width, color=color,
                    label=f"{family if family == 'fastconv' else 'PyTorch (best layout)'}, {pass_name}")
    top.set_xticks(range(len(layers)), layers, rotation=20, ha="right", fontsize=8)
    top.set_ylabel("GFLOP/s (higher is faster)")
    top.set_title("Convolution throughput, float32, batch %s" % report.get("settings", {}).get("batch", "?"))
    top.set_ylim(0, 1.25 * max([row[f"{family}_gflops"] for row in conv for family in COLORS] or [1]))
    top.legend(fontsize=8, ncols=2, loc="upper left")
    top.grid(axis="y", alpha=0.3)

    # Time ratios, log scale: every convolution and pooling row.
    ratios = [row["ratio"] for row in ratio_rows]
    colors = [COLORS["fastconv"]] * len(conv) + ["#2ca02c"] * len(pool)
    # Bars grow from 1 (parity) up for slower, down for faster.
    bottom.bar(range(len(ratios)), [r - 1 for r in ratios], bottom=1,
               color=[to_rgba(c, PASS_SHADES.get(r["pass_name"], 1.0)) for c, r in zip(colors, ratio_rows)])
    bottom.set_yscale("log")
    bottom.set_ylim(min(ratios + [1.0]) / 1.25, max(ratios + [1.3]) * 1.25)
    bottom.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    bottom.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    bottom.tick_params(axis="y", which="minor", labelsize=7)
    bottom.axhline(1.0, color="black", linewidth=1)
    bottom.axhline(1.3, color="gray", linewidth=1, linestyle="--")
    bottom.set_xticks(range(len(ratios)), [f"{row['label']} {_short_pass(row['pass_name'])}" for row in ratio_rows],
                      rotation=60, ha="right", fontsize=7)
    bottom.set_ylabel("time ratio fastconv / PyTorch best\n(below 1: fastconv faster)")
    bottom.set_title("Median time ratio (convolution in blue, pooling in green; dashed: 1.3)")
    bottom.grid(axis="y", which="both", alpha=0.3)

    machine = report.get("machine", {})
    fig.text(0.01, 0.005, f"{machine.get('cpu', '?')}, {machine.get('threads', '?')} threads; "
             f"numba {machine.get('numba', '?')}, torch {machine.get('torch', '?')}; "
             "medians of interleaved rounds (benchmarks/compare_torch.py)", fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(output, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", help="the file that compare_torch.py --json wrote")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT),
                        help="image to write (default docs/performance.png)")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        report = json.load(f)
    if not report.get("conv") and not report.get("pool"):
        parser.error(f"{args.json} has no 'conv' or 'pool' rows: is it compare_torch.py's --json output?")
    draw(report, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
