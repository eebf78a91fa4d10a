#!/usr/bin/env python3
"""Render the connection state machine of docs/architecture.md to
docs/state-machine.svg, so it shows wherever the markdown is read (mermaid
only renders on some sites).

The mermaid `stateDiagram-v2` block in architecture.md is the single
source: this script reads its transitions, writes them as Graphviz DOT, and
runs `dot -Tsvg` (apt-get install -y graphviz).

    python3 scripts/diagram.py
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "docs", "architecture.md")
OUTPUT = os.path.join(ROOT, "docs", "state-machine.svg")


def transitions(markdown):
    block = re.search(r"```mermaid\s*\nstateDiagram-v2\n(.*?)```", markdown, re.S)
    if not block:
        sys.exit("no mermaid stateDiagram-v2 block in architecture.md")
    for line in block.group(1).splitlines():
        m = re.match(r"\s*(\S+)\s*-->\s*(\S+)\s*(?::\s*(.*))?$", line)
        if m:
            yield m.group(1), m.group(2), (m.group(3) or "").strip()


def dot(edges):
    out = [
        "digraph connection {",
        '  rankdir=LR; bgcolor="white";',
        '  node [shape=box, style="rounded,filled", fillcolor="#ebf4ff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [label="", shape=circle, width=0.2, style=filled, fillcolor=black];',
        '  end [label="", shape=doublecircle, width=0.2, style=filled, fillcolor=black];',
    ]
    for src, dst, label in edges:
        src = "start" if src == "[*]" else src
        dst = "end" if dst == "[*]" else dst
        label = label.replace('"', '\\"')
        out.append(f'  {src} -> {dst} [label="{label}"];')
    out.append("}")
    return "\n".join(out)


def main():
    with open(SOURCE) as f:
        graph = dot(list(transitions(f.read())))
    try:
        svg = subprocess.run(["dot", "-Tsvg"], input=graph, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        sys.exit("graphviz is needed: apt-get install -y graphviz")
    with open(OUTPUT, "w") as f:
        f.write(svg)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
