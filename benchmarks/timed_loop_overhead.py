#!/usr/bin/env python3
"""The timed loop's own cost per sample: the runner's loop (rpi/runner.py, Python) and the companion app's
(android_app/core TimedLoop, JVM) around an invoke that does nothing, side by side in one run.

What an empty invoke reads as is the floor under every latency the loop reports (clock reads, the call, the
bookkeeping). Figures: median and p99 of the samples, in ns; ratio Python / JVM. JVM after 200k warm-up runs,
so the JIT has compiled the loop as it would have on a phone after the warm-up.

Usage: python benchmarks/timed_loop_overhead.py [--runs 200000]   (needs javac and Debian's gson jar)
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

JAVA_MAIN = """
import dev.harness.core.*;
public class LoopBench {
    public static void main(String[] a) {
        TimedLoop.Settings s = new TimedLoop.Settings();
        s.warmupRuns = 200000; s.minRuns = Integer.parseInt(a[0]); s.maxS = 150; s.sampleIntervalS = 0.5;
        Runnable nothing = () -> {};
        TimedLoop.Outcome o = TimedLoop.run(nothing, s, Clock.SYSTEM, null);
        System.out.println(Json.GSON.toJson(o.latenciesUs));
    }
}
"""


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200000)
    args = ap.parse_args()
    javac, java, gson = shutil.which("javac"), shutil.which("java"), Path("/usr/share/java/gson.jar")
    if not (javac and java and gson.is_file()):
        raise SystemExit("needs javac and /usr/share/java/gson.jar (apt-get install openjdk-17-jdk-headless "
                         "libgoogle-gson-java)")
    from rpi import runner

    cfg = {"warmup_runs": 200000, "warmup_s": 0.0, "min_runs": args.runs, "min_s": 0.0, "max_s": 150.0,
           "max_runs": 0, "sample_interval_s": 0.5}
    py = runner.timed_loop(lambda: None, cfg)["latencies_us"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "LoopBench.java").write_text(JAVA_MAIN)
        srcs = [str(p) for p in (REPO / "android_app/core/src/main/java").rglob("*.java")]
        subprocess.run([javac, "--release", "11", "-d", str(out), "-cp", str(gson), *srcs,
                        str(out / "LoopBench.java")], check=True)
        res = subprocess.run([java, "-cp", f"{out}:{gson}", "LoopBench", str(args.runs)], check=True,
                             capture_output=True, text=True)
        jvm = json.loads(res.stdout)
    # Samples are rounded to 0.001 us (1 ns), as the runner writes them.
    p, j = statistics.median(py) * 1000, statistics.median(jvm) * 1000
    print(f"{'empty invoke, ' + str(args.runs) + ' samples':<34}{'median ns':>10}{'p99 ns':>9}")
    print(f"{'Python runner (perf_counter_ns)':<34}{p:>10.0f}{_pct(py, 0.99) * 1000:>9.0f}")
    print(f"{'JVM core (System.nanoTime)':<34}{j:>10.0f}{_pct(jvm, 0.99) * 1000:>9.0f}")
    print(f"ratio Python / JVM (median): {p / j:.1f}x" if j > 0 else "JVM median below the 1 ns resolution")
    return 0


if __name__ == "__main__":
    sys.exit(main())
