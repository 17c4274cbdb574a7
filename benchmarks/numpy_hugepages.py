"""NumPy's transparent-huge-page madvise on and off, side by side in one run (tests/conftest.py turns it off).

NumPy madvises MADV_HUGEPAGE on every array of 4 MB or more, so where the kernel's THP mode is `madvise` each first
touch of such an array faults in and zeroes a 2 MB page. On a VM whose fresh memory is slow to fault in (the CI
machine here is a Firecracker VM with free-page reporting) that zeroing is paid on every large array. This measures
one such piece of work, the 3000 held-out 224 px images (1.8 GB as float32); it does not run the Keras predict over
them that the shipped-SqueezeNet test adds, whose copies of those arrays paid most of that test's difference (42.6
vs 70.6 s wall, 3.0 vs 29.3 s system, one pytest run each way). Here, 2026-12-08, two rounds on the idle VM: wall
25.5 vs 28.7 s (0.89x), system 8.9 vs 12.0 s (0.74x), user 0.99x, the same bytes; round 2's "on" (25.4 s) was within
a second of its "off". Each round builds that set in a fresh child process with `NUMPY_MADVISE_HUGEPAGE=1` and with
`=0`, alternating which goes first, and prints each child's wall, user and system CPU and minor page faults, their
medians and the ratios off/on, and whether both children made the same arrays (a checksum of every byte).

    python benchmarks/numpy_hugepages.py [--rounds 2] [--side 224] [--images 3000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import hashlib, json, sys
import numpy as np
from converters.datasets import TaskInfo, classification_data
side, count = int(sys.argv[1]), int(sys.argv[2])
x, y = classification_data(TaskInfo("classification", channels=3, classes=1000), side, count, seed=0, held_out=True)
h = hashlib.sha256()
for chunk in x:
    h.update(chunk.tobytes())
h.update(y.tobytes())
print(json.dumps({"sha256": h.hexdigest(), "bytes": int(x.nbytes)}))
"""


def one(madvise: bool, side: int, images: int) -> dict[str, float | str]:
    """One child building the set: its wall, user and system seconds, minor faults and checksum."""
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "1" if madvise else "0", "PYTHONPATH": str(ROOT)}
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, str(side), str(images)], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=False)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"numpy_hugepages: the child failed: {res.stderr.strip()[-500:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            "minflt": float(after.ru_minflt - before.ru_minflt), "sha256": out["sha256"], "bytes": out["bytes"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--side", type=int, default=224)
    ap.add_argument("--images", type=int, default=3000)
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.side < 8 or args.images < 1:
        print("numpy_hugepages: --rounds and --images must be at least 1, --side at least 8", file=sys.stderr)
        return 2
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    print(f"THP mode: {thp.read_text().strip() if thp.exists() else 'unknown'}; {args.images} images at "
          f"{args.side} px, {args.rounds} round(s), each way in a fresh process")
    got: dict[bool, list[dict[str, float | str]]] = {True: [], False: []}
    for r in range(args.rounds):
        for madvise in ((True, False) if r % 2 == 0 else (False, True)):
            row = one(madvise, args.side, args.images)
            got[madvise].append(row)
            print(f"round {r + 1} madvise {'on ' if madvise else 'off'}: wall {row['wall_s']:.1f} s, user "
                  f"{row['user_s']:.1f} s, system {row['sys_s']:.1f} s, {row['minflt']:.0f} minor faults")
    same = len({str(row["sha256"]) for rows in got.values() for row in rows}) == 1
    print(f"same arrays both ways: {'yes' if same else 'NO'} ({got[True][0]['bytes']} bytes of images)")
    for key in ("wall_s", "user_s", "sys_s", "minflt"):
        on = statistics.median(float(row[key]) for row in got[True])
        off = statistics.median(float(row[key]) for row in got[False])
        print(f"median {key}: on {on:.1f}, off {off:.1f}, off/on {off / on:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
