#!/usr/bin/env bash
# The tree the static-file scenarios serve (compare.sh, syscalls.sh): an
# index.html of 1 KiB (asked for as /), 16k.html of 16 KiB and 1m.bin of
# 1 MiB, each of printable bytes.
#
#   benches/static-site.sh DIR
set -euo pipefail
dir=${1:?usage: benches/static-site.sh DIR}
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import os, sys
d = sys.argv[1]
line = b"reactord static file benchmark, a line of text padded to 64 bytes\n"[:63] + b"\n"
for name, size in [("index.html", 1024), ("16k.html", 16 * 1024), ("1m.bin", 1024 * 1024)]:
    with open(os.path.join(d, name), "wb") as f:
        f.write((line * (size // 64 + 1))[:size])
PY
