"""The demonstrations in examples/demo_*.py: each runs in --quick mode, prints the figures
of the claim it demonstrates -- computed, so a wrong model or a wrong counter makes
them fail here -- and writes a PNG that is not blank."""
import os
import re
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_demo(script, tmp_path, timeout=120):
    """Run ``examples/<script> --quick --out tmp_path`` in a fresh interpreter; return
    its stdout after checking that it exited cleanly."""
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--quick",
                           "--out", str(tmp_path)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def assert_plot(path):
    """A PNG that decodes, of a real figure size, with something drawn on it: a blank
    canvas is one colour; a figure with text, bars and curves has many."""
    assert os.path.exists(path), f"no plot at {path}"
    img = matplotlib.image.imread(path)                       # (H, W, 3 or 4) floats
    assert img.shape[0] >= 300 and img.shape[1] >= 500, img.shape
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{path} looks blank ({len(colours)} colours)"
    assert os.path.getsize(path) > 20_000


def numbers(line):
    """The numbers in a line of text, commas in thousands removed."""
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", line.replace(",", ""))]


def line_starting(out, prefix):
    lines = [l for l in out.splitlines() if l.startswith(prefix)]
    assert lines, f"no line starting with {prefix!r} in:\n{out}"
    return lines[0]


def test_kernel_stacking(tmp_path):
    out = run_demo("demo_kernel_stacking.py", tmp_path)
    # stack: weights/C^2, paper, MACs/(pixel*C^2), r computed, r measured, nonzero outside r
    expected = {"two 3x3": (18, 5), "one 5x5": (25, 5), "three 3x3": (27, 7), "one 7x7": (49, 7)}
    sigma = {}
    for stack, (weights, r) in expected.items():
        row = numbers(line_starting(out, stack + " ")[len(stack):])
        assert row[:3] == [weights, weights, weights], (stack, row)      # counted = paper
        assert row[3:7] == [r, r, r, r], (stack, row)                    # computed, measured
        assert row[7] == 0, (stack, row)                      # no gradient outside the field
        sigma[stack] = row[8]
    # the stacks' gradient footprints are peaked, a single kernel's is flat (wider spread)
    assert sigma["two 3x3"] < sigma["one 5x5"] and sigma["three 3x3"] < sigma["one 7x7"]
    assert "18 C^2 vs 25 C^2 weights: -28%" in out
    assert "27 C^2 vs 49 C^2 weights: -45% (one 7x7 needs 81% more)" in out
    assert_plot(tmp_path / "kernel_stacking.png")


def test_vgg_configs(tmp_path):
    out = run_demo("demo_vgg_configs.py", tmp_path)
    for cfg, builder, layers, millions in (
            ("A ", "vgg11", 11, 133), ("A-LRN", "vgg11_lrn", 11, 133), ("B ", "vgg13", 13, 133),
            ("C ", "vgg16_c", 16, 134), ("D ", "vgg16", 16, 138), ("E ", "vgg19", 19, 144)):
        line = line_starting(out, cfg)
        assert builder in line
        row = numbers(line.split(builder, 1)[1])
        # weight layers, parameters, rounded to millions (counted), the paper's figure
        assert row[0] == layers and row[2] == millions and row[3] == millions, line
    # VGG-16 per layer: the rows sum to ~15.2M values; fc6 holds 102.8M of 138.4M weights
    total = numbers(line_starting(out, "TOTAL "))
    assert total[0] == 15_237_608 and total[2] == 138_344_128
    assert line_starting(out, "FC-4096").split()[-2] == "102,760,448"
    assert "the first FC layer holds 102.8M of 138.4M (74%)" in out
    quoted = numbers(line_starting(out, "  the quoted total"))
    rows = numbers(line_starting(out, "  the rows of the table"))
    assert quoted[0] == 24.0 and rows[0] == 15.24
    assert "cs231n/cs231n.github.io issue #88" in out
    assert_plot(tmp_path / "vgg_configs.png")


def test_inception(tmp_path):
    out = run_demo("demo_inception.py", tmp_path)
    naive = line_starting(out, "naive ")
    assert "854.20M" in naive and "256 -> 672" in naive
    bottleneck = line_starting(out, "bottleneck (paper, 3b)")
    assert "304.27M" in bottleneck and "256 -> 480" in bottleneck
    assert "271.35M" in line_starting(out, "CS231n (64-channel")
    assert "1,025,000" in line_starting(out, "GoogLeNet: avg pool")
    assert "6,624,904" in line_starting(out, "GoogLeNet: avg pool")
    assert "123,642,856" in line_starting(out, "VGG-16: FC-4096")
    assert "50,177,000" in line_starting(out, "GoogLeNet with FC-1000")
    assert_plot(tmp_path / "inception.png")


def test_resnet_degradation(tmp_path):
    """Depths 8 and 32 on the 8x8 digits, one seed: plain-32 ends at a training error
    well above plain-8's, ResNet-32 no higher than ResNet-8's (He et al. 2016, Fig. 6)."""
    out = run_demo("demo_resnet_degradation.py", tmp_path, timeout=600)
    final = {net: numbers(line_starting(out, net + " "))[-1]
             for net in ("plain-8", "plain-32", "resnet-8", "resnet-32")}
    assert final["plain-32"] > final["plain-8"] + 3, final
    assert final["resnet-32"] <= final["resnet-8"], final
    assert final["resnet-32"] < 1, final
    assert "plain-32 ends higher than plain-8: 1 of 1 seeds" in out
    assert "resnet-32 ends no higher than resnet-8: 1 of 1 seeds" in out
    assert "plain-18 27.94   plain-34 28.54" in out
    assert_plot(tmp_path / "resnet_degradation.png")


def test_block_costs(tmp_path):
    out = run_demo("demo_block_costs.py", tmp_path)
    basic = line_starting(out, "basic, 64-d")
    bottleneck = line_starting(out, "bottleneck, 256-d")
    assert "73,728" in basic and "231.21M" in basic                     # 2 x 9 x 64^2
    assert "69,632" in bottleneck and "218.37M" in bottleneck           # 64*256*2 + 9*64^2
    assert "1,179,648" in line_starting(out, "basic, 256-d")
    rows = [numbers(l) for l in out.splitlines() if re.match(r"\s*[357]\s+\d+\s+\d", l)]
    assert len(rows) >= 6
    for k, n, *_, counted, formula, _saving in rows:
        assert counted == pytest.approx(1 / n + 1 / k ** 2, abs=1e-5)
        assert counted == pytest.approx(formula, abs=1e-5)
    assert_plot(tmp_path / "block_costs.png")


def test_compound_scaling(tmp_path):
    out = run_demo("demo_compound_scaling.py", tmp_path)
    assert "efficientnet_b0 at 224: 385,814,752 vs 385,814,752 (equal)" in out
    # published B0..B7: MACs near the paper's Table 2, parameters as published
    for name, params, macs in (("efficientnet_b0", "5,288,548", "385.81M"),
                               ("efficientnet_b4", "19,341,616", "4.39G"),
                               ("efficientnet_b7", "66,347,960", "37.75G")):
        line = line_starting(out, name + " ")
        assert params in line and macs in line, line
    # the rule: about 2x MACs per step of phi
    growth = numbers(line_starting(out, "MACs grow x"))[0]
    assert 1.8 < growth < 2.1
    # one dimension alone: MACs near the budget; resolution alone keeps B0's parameters
    single = [numbers(l) for l in out.splitlines() if re.match(r"\s+[0-4]\s+\S+M?G? \|", l)]
    assert len(single) == 5
    assert all(row[-1] == 5.3 for row in single)
    assert_plot(tmp_path / "compound_scaling.png")


def test_complexity_chart(tmp_path):
    out = run_demo("demo_complexity_chart.py", tmp_path)
    # every count equal to the published one but MobileNet v1's, which the paper rounds (4.2M)
    assert re.search(r"parameter counts equal to the published ones: \d+ of \d+ \(not equal: "
                     r"mobilenet_v1\)", out), out
    assert numbers(line_starting(out, "parameter counts equal"))[0] >= 30
    frontier = line_starting(out, "frontier, cheapest first")
    assert "efficientnet_b7" in frontier and "vgg" not in frontier
    assert "on the frontier: none" in line_starting(out, "VGG:")
    assert_plot(tmp_path / "complexity_chart.png")
