#!/usr/bin/env python3
"""Writes an SVG plot of a `zip train` / `zip distill` JSONL log: training loss per step (thin)
and validation loss (dots). Standard library only.
Usage: tools/plot_loss.py LOG.jsonl OUT.svg [TITLE]"""
import json, math, sys

log = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
title = sys.argv[3] if len(sys.argv) > 3 else "training loss"
train = [(r["step"], r["loss"]) for r in log if "loss" in r]
val = [(r["step"], r["val_loss"]) for r in log if "val_loss" in r]
W, H, L, R, T, B = 720, 420, 60, 20, 40, 50
xs = [s for s, _ in train] or [0, 1]
ys = [v for _, v in train + val]
x0, x1 = min(xs), max(xs)
y0, y1 = 0.0, math.ceil(max(ys))
px = lambda x: L + (x - x0) / max(1, x1 - x0) * (W - L - R)
py = lambda y: H - B - (y - y0) / max(1e-9, y1 - y0) * (H - T - B)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
for i in range(int(y1) + 1):
    out.append(f'<line x1="{L}" x2="{W-R}" y1="{py(i):.1f}" y2="{py(i):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{L-8}" y="{py(i)+4:.1f}" text-anchor="end">{i}</text>')
for k in range(6):
    s = x0 + (x1 - x0) * k / 5
    out.append(f'<text x="{px(s):.1f}" y="{H-B+18}" text-anchor="middle">{int(s)}</text>')
out.append(f'<text x="{W/2}" y="{H-10}" text-anchor="middle">step</text>')
out.append(f'<text x="16" y="{H/2}" transform="rotate(-90 16 {H/2})" text-anchor="middle">loss (nats/token)</text>')
pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in train)
out.append(f'<polyline points="{pts}" fill="none" stroke="#4a7fb5" stroke-width="1"/>')
for s, v in val:
    out.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="4" fill="#d0543e"/>')
    out.append(f'<text x="{px(s)+6:.1f}" y="{py(v)-6:.1f}" fill="#d0543e">{v:.3f}</text>')
out.append(f'<text x="{W-R-150}" y="{T+10}" fill="#4a7fb5">train (per step)</text>')
out.append(f'<text x="{W-R-150}" y="{T+26}" fill="#d0543e">validation</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
