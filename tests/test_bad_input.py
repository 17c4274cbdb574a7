"""A catalog of bad inputs, tried as a careless or hostile user would, each through the real CLI
(`python -m harness` in a subprocess, in a folder of its own).

Every case must end the same way: exit 2; at most three lines, all on stderr, naming the file, field
or flag as the user wrote it; no traceback; a user value quoted to ~200 characters with control
characters escaped; and nothing written: every file in the folder (results databases included) keeps
its bytes and mtime, and no file appears (no new database from a refused command).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ESC = "\x1b"
LONG = "x" * 5000

BOMB = "".join(
    f"{k}: &{k} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, k in zip("abcdefgh", "bcdefghi")
)
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB


@dataclass(frozen=True)
class Case:
    id: str
    klass: str
    args: tuple[str, ...]
    needle: str  # what the message must contain: the file, field or flag as written


def C(klass: str, id: str, needle: str, *args: str) -> Case:
    return Case(id, klass, args, needle)


LOCAL = "devices:\n  - {name: a, kind: local}\n"
PI = "devices:\n  - {name: pi, kind: raspberry_pi, host: 127.0.0.1, user: pi%s}\n"

# name -> text of a devices file written into each case's folder
DEVICE_FILES: dict[str, str | bytes] = {
    "ok.yaml": LOCAL,
    "latin1.yaml": "devices:\n  - {name: café, kind: local}\n".encode("latin-1"),
    "utf16.yaml": LOCAL.encode("utf-16"),
    "bomb.yaml": BOMB + "devices: *i\n",
    "bomb_name.yaml": BOMB + "devices:\n  - {name: *i, kind: local}\n",
    "bomb_map.yaml": "a: &a {x: 1}\n" + "".join(
        f"{k}: &{k} {{{', '.join(f'k{j}: *{prev}' for j in range(10))}}}\n" for prev, k in zip("abcdefgh", "bcdefghi"))
        + "devices: [*i]\n",
    "recursive.yaml": "a: &a [*a]\ndevices: *a\n",
    "deep.yaml": "devices: " + "[" * 5000 + "]" * 5000 + "\n",
    "empty.yaml": "",
    "nul.yaml": "devices:\n  - {name: a\x00, kind: local}\n",
    "huge.yaml": "# " + "x" * (2 << 20) + "\n" + LOCAL,
    "pytag.yaml": "devices: !!python/object/apply:os.system ['echo pwned']\n",
    "two_docs.yaml": LOCAL + "---\n" + LOCAL,
    "list.yaml": "- just a list\n",
    "devices_map.yaml": "devices: {name: a, kind: local}\n",
    "devices_empty.yaml": "devices: []\n",
    "unknown_field.yaml": "devices:\n  - {name: a, kind: local, colour: red}\n",
    "unknown_top.yaml": LOCAL + "devicez: []\n",
    "unknown_bench.yaml": "devices:\n  - {name: a, kind: local, bench: {runz: 3}}\n",
    "threads_str.yaml": "devices:\n  - {name: a, kind: local, bench: {threads: many}}\n",
    "threads_long.yaml": "devices:\n  - {name: a, kind: local, bench: {threads: " + LONG + "}}\n",
    "port_str.yaml": PI % ", port: ssh",
    "port_big.yaml": PI % ", port: 70000",
    "enabled_str.yaml": "devices:\n  - {name: a, kind: local, enabled: maybe}\n",
    "name_list.yaml": "devices:\n  - {name: [1, 2], kind: local}\n",
    "device_str.yaml": "devices:\n  - just-a-name\n",
    "kind_long.yaml": "devices:\n  - {name: a, kind: " + LONG + "}\n",
    "no_host.yaml": "devices:\n  - {name: pi, kind: raspberry_pi, user: pi}\n",
    "dup.yaml": LOCAL + "  - {name: a, kind: local}\n",
    "key_missing.yaml": PI % ", key_file: keys/id_missing",
    "key_dir.yaml": PI % ", key_file: keys",
    "name_esc.yaml": 'devices:\n  - {name: "\\e[31mred\\e[0m\\e]0;pwned\\a", kind: local}\n',
    "name_cr.yaml": 'devices:\n  - {name: "ok\\rharness: all good", kind: local}\n',
    "name_bidi.yaml": 'devices:\n  - {name: "a\\u202eexe.gpj", kind: local}\n',
    "name_long.yaml": "devices:\n  - {name: " + LONG + ", kind: local}\n",
    "defaults_bad.yaml": "defaults: {min_runs: -1}\n" + LOCAL,
    "defaults_int.yaml": "defaults: 5\n" + LOCAL,
    "window.yaml": "devices:\n  - {name: a, kind: local, bench: {min_s: 10, max_s: 5}}\n",
    "cpu_mask.yaml": "devices:\n  - {name: p, kind: android, serial: x, cpu_mask: zz}\n",
    "precision.yaml": "devices:\n  - {name: j, kind: jetson, host: h, user: u, tensorrt_precisions: [fp8]}\n",
    # issue 31: values YAML takes that no setting can be, and keys YAML would silently drop
    "dup_key.yaml": "defaults: {threads: 1}\n" + LOCAL + "defaults: {threads: 4}\n",
    "dup_device_key.yaml": "devices:\n  - name: a\n    kind: local\n    bench: {threads: 1}\n    bench: {threads: 3}\n",
    "warmup_inf.yaml": "devices:\n  - {name: a, kind: local, bench: {warmup_s: .inf}}\n",
    "cooldown_inf.yaml": "defaults: {cooldown_s: .inf}\n" + LOCAL,
    "password_unset.yaml": PI % ", password_env: HARNESS_TEST_UNSET_PASSWORD",
    "many_values.yaml": LOCAL + "extra: [" + "1," * 120_000 + "1]\n",
}

CATALOG: list[Case] = [
    # --- the devices file: its encoding, what it is, its YAML ------------------------------------------------
    C("devices-file", "not-utf8", "latin1.yaml: not UTF-8", "run", "--devices", "latin1.yaml"),
    C("devices-file", "utf16", "utf16.yaml: not UTF-8", "devices", "--devices", "utf16.yaml"),
    C("devices-file", "a-folder", "keys: a folder", "run", "--devices", "keys"),
    C("devices-file", "missing", "nope.yaml: no such file", "devices", "--devices", "nope.yaml"),
    C("devices-file", "empty", "empty.yaml: empty file", "run", "--devices", "empty.yaml"),
    C("devices-file", "nul-byte", "nul.yaml", "devices", "--devices", "nul.yaml"),
    C("devices-file", "over-1-MiB", "huge.yaml: larger than", "run", "--devices", "huge.yaml"),
    C("devices-file", "python-tag", "pytag.yaml", "run", "--devices", "pytag.yaml"),
    C("devices-file", "two-documents", "two_docs.yaml", "run", "--devices", "two_docs.yaml"),
    C("devices-file", "nightly-not-utf8", "latin1.yaml: not UTF-8", "nightly", "--devices", "latin1.yaml"),
    # --- YAML aliases: bounded expansion -------------------------------------------------------------------
    C("yaml-alias", "billion-laughs", "bomb.yaml: YAML aliases expand", "run", "--devices", "bomb.yaml"),
    C("yaml-alias", "billion-laughs-in-name", "bomb_name.yaml: YAML aliases expand", "devices", "--devices",
      "bomb_name.yaml"),
    C("yaml-alias", "mapping-bomb", "bomb_map.yaml: YAML aliases expand", "run", "--devices", "bomb_map.yaml"),
    C("yaml-alias", "recursive", "recursive.yaml", "run", "--devices", "recursive.yaml"),
    C("yaml-alias", "deeply-nested", "deep.yaml", "run", "--devices", "deep.yaml"),
    # --- unknown fields and wrong types --------------------------------------------------------------------
    C("fields", "top-level-list", "list.yaml: expected a mapping", "run", "--devices", "list.yaml"),
    C("fields", "devices-a-mapping", "devices_map.yaml: devices", "run", "--devices", "devices_map.yaml"),
    C("fields", "devices-empty", "devices_empty.yaml: devices", "run", "--devices", "devices_empty.yaml"),
    C("fields", "unknown-device-field", "devices[0] (a).colour: unknown field", "run", "--devices",
      "unknown_field.yaml"),
    C("fields", "unknown-top-field", "devicez: unknown field", "run", "--devices", "unknown_top.yaml"),
    C("fields", "unknown-bench-field", "bench.runz: unknown field", "run", "--devices", "unknown_bench.yaml"),
    C("types", "threads-a-word", "bench.threads", "run", "--devices", "threads_str.yaml"),
    C("types", "threads-5000-chars", "bench.threads", "run", "--devices", "threads_long.yaml"),
    C("types", "port-a-word", "(pi).port", "devices", "--devices", "port_str.yaml"),
    C("types", "port-out-of-range", "(pi).port", "devices", "--devices", "port_big.yaml"),
    C("types", "enabled-maybe", "(a).enabled", "run", "--devices", "enabled_str.yaml"),
    C("types", "name-a-list", "devices[0].name", "run", "--devices", "name_list.yaml"),
    C("types", "device-a-string", "devices[0]", "run", "--devices", "device_str.yaml"),
    C("types", "kind-5000-chars", "devices[0] (a).kind: unknown device kind", "run", "--devices", "kind_long.yaml"),
    C("types", "missing-host", "devices[0] (pi).host: missing", "devices", "--devices", "no_host.yaml"),
    C("types", "duplicate-names", "appears twice", "run", "--devices", "dup.yaml"),
    C("types", "defaults-negative", "defaults.min_runs", "run", "--devices", "defaults_bad.yaml"),
    C("types", "defaults-not-mapping", "defaults", "run", "--devices", "defaults_int.yaml"),
    C("types", "window-inverted", "max_s (5.0) is below min_s", "run", "--devices", "window.yaml"),
    C("types", "cpu-mask-not-hex", "(p).cpu_mask", "devices", "--devices", "cpu_mask.yaml"),
    C("types", "precision-unknown", "(j).tensorrt_precisions", "devices", "--devices", "precision.yaml"),
    # --- ssh key files: refused at load, one line ----------------------------------------------------------
    C("key-file", "missing", "(pi).key_file: no such file", "devices", "--devices", "key_missing.yaml"),
    C("key-file", "a-folder", "(pi).key_file: not a file", "devices", "--devices", "key_dir.yaml"),
    C("key-file", "missing-on-run", "(pi).key_file: no such file", "run", "--devices", "key_missing.yaml"),
    # --- control characters and terminal escapes ------------------------------------------------------------
    C("control-chars", "escape-in-name", "control characters", "devices", "--devices", "name_esc.yaml"),
    C("control-chars", "carriage-return-in-name", "control characters", "run", "--devices", "name_cr.yaml"),
    C("control-chars", "bidi-override-in-name", "control characters", "devices", "--devices", "name_bidi.yaml"),
    C("control-chars", "name-5000-chars", "devices[0]", "run", "--devices", "name_long.yaml"),
    C("control-chars", "escape-in-model-name", "--models", "run", "--devices", "ok.yaml", "--models",
      f"{ESC}[2J{ESC}[31mevil"),
    C("control-chars", "escape-in-run-id", "no run with id", "report", "--db", "good.db", "--run", f"{ESC}[31mx"),
    C("control-chars", "escape-in-import-device", "--device", "import", "benchmark_model", "bm.txt", "--store",
      "--db", "good.db", "--device", f"{ESC}]0;pwned{ESC}\\"),
    C("control-chars", "escape-in-flag-value", "--runs", "run", "--runs", f"1{ESC}[2J"),
    # --- flags: named as typed, ranges ---------------------------------------------------------------------
    C("flags", "runs-0", "--runs", "run", "--devices", "ok.yaml", "--runs", "0"),
    C("flags", "runs-negative", "--runs", "run", "--devices", "ok.yaml", "--runs", "-1"),
    C("flags", "runs-word", "--runs", "run", "--runs", "many"),
    C("flags", "runs-5000-chars", "--runs", "run", "--runs", LONG),
    C("flags", "threads-0", "--threads", "run", "--threads", "0"),
    C("flags", "min-seconds-negative", "--min-seconds", "run", "--min-seconds", "-1"),
    C("flags", "max-seconds-0", "--max-seconds", "run", "--max-seconds", "0"),
    C("flags", "window-inverted", "--max-seconds (5.0) is below --min-seconds (10.0)", "run", "--devices",
      "ok.yaml", "--min-seconds", "10", "--max-seconds", "5"),
    C("flags", "min-seconds-above-device-max", "--min-seconds", "run", "--devices", "ok.yaml",
      "--min-seconds", "200"),
    C("flags", "cooldown-negative", "--cooldown", "run", "--cooldown", "-5"),
    C("flags", "cooldown-nan", "--cooldown", "run", "--cooldown", "nan"),
    C("flags", "warmup-runs-negative", "--warmup-runs", "run", "--warmup-runs", "-1"),
    C("flags", "delegate-unknown", "--delegate", "run", "--delegate", "cuda"),
    C("flags", "variant-unknown", "--variants: unknown variant 'fp33'", "run", "--devices", "ok.yaml",
      "--variants", "fp33"),
    C("flags", "model-unknown", "--models: unknown model 'no_such_model'", "run", "--devices", "ok.yaml",
      "--models", "no_such_model"),
    C("flags", "model-bad-override", "unknown argument 'colour'", "run", "--devices", "ok.yaml", "--models",
      "srcnn@colour=red"),
    C("flags", "model-5000-chars", "--models", "run", "--devices", "ok.yaml", "--models", LONG),
    C("flags", "unknown-flag", "--colour", "run", "--colour", "red"),
    C("flags", "unknown-command", "frobnicate", "frobnicate"),
    C("flags", "live-bad-port", "--live", "run", "--devices", "ok.yaml", "--live", "127.0.0.1:99999"),
    C("flags", "serve-port-out-of-range", "--port", "serve", "--port", "70000"),
    C("flags", "serve-bad-host", "256.1.1.1", "serve", "--db", "new.db", "--host", "256.1.1.1", "--port", "0"),
    C("flags", "nightly-no-devices", "--devices", "nightly", "--db", "good.db"),
    C("flags", "history-unknown-metric", "--metric: unknown metric 'speed'", "history", "--db", "good.db",
      "--device", "local", "--model", "srcnn", "--metric", "speed"),
    C("flags", "results-parquet-no-out", "--format parquet", "results", "--db", "good.db", "--format", "parquet"),
    C("flags", "results-out-a-folder", "--out keys", "results", "--db", "good.db", "--format", "csv", "--out",
      "keys"),
    C("flags", "report-out-missing-folder", "--out nowhere/r.html", "report", "--db", "good.db", "--out",
      "nowhere/r.html"),
    # --- --threshold: negative or nonsense ------------------------------------------------------------------
    C("threshold", "compare-negative", "--threshold", "compare", "A", "B", "--db", "good.db", "--threshold", "-0.5"),
    C("threshold", "compare-nan", "--threshold", "compare", "A", "B", "--db", "good.db", "--threshold", "nan"),
    C("threshold", "compare-word", "--threshold", "compare", "A", "B", "--db", "good.db", "--threshold", "lots"),
    C("threshold", "nightly-negative", "--threshold", "nightly", "--devices", "ok.yaml", "--threshold", "-1"),
    C("threshold", "history-inf", "--threshold", "history", "--db", "good.db", "--device", "local", "--model",
      "srcnn", "--threshold", "inf"),
    # --- model files ----------------------------------------------------------------------------------------
    C("model-file", "tflite-empty", "--models models/empty.tflite: empty file", "run", "--devices", "ok.yaml",
      "--models", "models/empty.tflite"),
    C("model-file", "tflite-text", "--models models/text.tflite: not a TFLite model", "run", "--devices",
      "ok.yaml", "--models", "models/text.tflite"),
    C("model-file", "tflite-truncated", "--models models/truncated.tflite", "run", "--devices", "ok.yaml",
      "--models", "models/truncated.tflite"),
    C("model-file", "keras-text", "--models models/text.keras: not a Keras archive", "run", "--devices",
      "ok.yaml", "--models", "models/text.keras"),
    C("model-file", "keras-zip-without-config", "--models models/noconfig.keras", "run", "--devices", "ok.yaml",
      "--models", "models/noconfig.keras"),
    C("model-file", "keras-truncated", "--models models/truncated.keras", "run", "--devices", "ok.yaml",
      "--models", "models/truncated.keras"),
    C("model-file", "h5-text", "--models models/text.h5: not an HDF5", "run", "--devices", "ok.yaml",
      "--models", "models/text.h5"),
    C("model-file", "h5-truncated", "--models models/truncated.h5", "run", "--devices", "ok.yaml",
      "--models", "models/truncated.h5"),
    C("model-file", "folder-not-savedmodel", "--models models/notsm: a folder but not a SavedModel", "run",
      "--devices", "ok.yaml", "--models", "models/notsm"),
    C("model-file", "savedmodel-garbage-pb", "--models models/badsm: not a SavedModel", "run", "--devices",
      "ok.yaml", "--models", "models/badsm"),
    C("model-file", "unknown-suffix", "--models models/net.onnx: unknown kind", "run", "--devices", "ok.yaml",
      "--models", "models/net.onnx"),
    C("model-file", "missing", "--models models/gone.tflite: no such file", "run", "--devices", "ok.yaml",
      "--models", "models/gone.tflite"),
    C("model-file", "same-file-name", "--models: models/a/net.tflite and models/b/net.tflite would both be",
      "run", "--devices", "ok.yaml", "--models", "models/a/net.tflite,models/b/net.tflite"),
    C("model-file", "convert-same-file-name", "would both be reported as net.tflite", "convert", "--models",
      "models/a/net.tflite,models/b/net.tflite", "--variants", "fp32"),
    C("model-file", "zoo-model-twice", "--models: srcnn is given twice", "run", "--devices", "ok.yaml",
      "--models", "srcnn,srcnn"),
    C("model-file", "convert-empty", "--models models/empty.tflite: empty file", "convert", "--models",
      "models/empty.tflite"),
    C("model-file", "nightly-text", "--models models/text.tflite", "nightly", "--devices", "ok.yaml",
      "--models", "models/text.tflite"),
    # --- results databases: corrupted, foreign, missing -----------------------------------------------------
    C("database", "run-garbage", "garbage.db: damaged or not a results database", "run", "--devices", "ok.yaml",
      "--db", "garbage.db", "--variants", "fp32", "--models", "srcnn"),
    C("database", "results-garbage", "garbage.db: damaged", "results", "--db", "garbage.db"),
    C("database", "report-garbage", "garbage.db: damaged", "report", "--db", "garbage.db"),
    C("database", "compare-garbage", "garbage.db: damaged", "compare", "A", "B", "--db", "garbage.db"),
    C("database", "history-garbage", "garbage.db: damaged", "history", "--db", "garbage.db", "--device", "a",
      "--model", "b"),
    C("database", "nightly-garbage", "garbage.db: damaged", "nightly", "--accept", "X", "--db", "garbage.db"),
    C("database", "nightly-run-garbage", "garbage.db: damaged", "nightly", "--devices", "ok.yaml", "--db",
      "garbage.db"),
    C("database", "serve-garbage", "garbage.db: damaged", "serve", "--db", "garbage.db", "--port", "0"),
    C("database", "import-store-garbage", "garbage.db: damaged", "import", "benchmark_model", "bm.txt", "--store",
      "--db", "garbage.db"),
    C("database", "results-truncated", "truncated.db", "results", "--db", "truncated.db"),
    C("database", "report-truncated", "truncated.db", "report", "--db", "truncated.db"),
    C("database", "run-truncated", "truncated.db", "run", "--devices", "ok.yaml", "--db", "truncated.db"),
    C("database", "results-foreign", "foreign.db: an SQLite file of something else", "results", "--db",
      "foreign.db"),
    C("database", "run-foreign", "foreign.db: an SQLite file of something else", "run", "--devices", "ok.yaml",
      "--db", "foreign.db"),
    C("database", "results-empty-file", "zero.db: an empty file", "results", "--db", "zero.db"),
    C("database", "results-a-folder", "keys: a folder", "results", "--db", "keys"),
    C("database", "results-missing", "new.db: no results database", "results", "--db", "new.db"),
    C("database", "report-future-schema", "future.db: schema_version 99 is newer", "report", "--db", "future.db"),
    C("database", "results-unknown-run", "no run with id 'nope'", "results", "--db", "good.db", "--run", "nope"),
    C("database", "compare-unknown-runs", "no run with id 'A'", "compare", "A", "B", "--db", "good.db"),
    C("database", "accept-unknown-run", "no run with id 'X'", "nightly", "--accept", "X", "--db", "good.db"),
    # --- folders given as flags -----------------------------------------------------------------------------
    C("folders", "run-cache-dir-a-file", "--cache-dir bm.txt: exists and is not a folder", "run", "--devices",
      "ok.yaml", "--cache-dir", "bm.txt"),
    C("folders", "run-cache-dir-under-a-file", "--cache-dir bm.txt/sub", "run", "--cache-dir", "bm.txt/sub"),
    C("folders", "convert-cache-dir-a-file", "--cache-dir bm.txt", "convert", "--cache-dir", "bm.txt"),
    C("folders", "nightly-cache-dir-a-file", "--cache-dir bm.txt", "nightly", "--devices", "ok.yaml",
      "--cache-dir", "bm.txt"),
    C("folders", "run-images-missing", "--images photos: no such folder", "run", "--devices", "ok.yaml",
      "--images", "photos"),
    C("folders", "run-images-a-file", "--images bm.txt: not a folder", "run", "--images", "bm.txt"),
    C("folders", "convert-images-missing", "--images photos: no such folder", "convert", "--images", "photos"),
    C("folders", "convert-out-a-file", "--out bm.txt: exists and is not a folder", "convert", "--out", "bm.txt"),
    C("folders", "import-a-folder", "keys: not a file", "import", "benchmark_model", "keys"),
    C("folders", "import-missing", "gone.txt: no such file", "import", "trtexec", "gone.txt"),
    # --- --resume -------------------------------------------------------------------------------------------
    C("resume", "imported-run", "--resume {imported}: run was imported", "run", "--db", "good.db", "--resume",
      "{imported}"),
    C("resume", "unknown-id", "no run with id 'nope'", "run", "--db", "good.db", "--resume", "nope"),
    C("resume", "with-models", "--resume: cannot be combined with --models", "run", "--db", "good.db",
      "--resume", "{planned}", "--models", "fsrcnn"),
    C("resume", "with-variants-and-runs", "cannot be combined with --variants, --runs", "run", "--db", "good.db",
      "--resume", "{planned}", "--variants", "fp16", "--runs", "5"),
    C("resume", "with-devices", "cannot be combined with --devices", "run", "--db", "good.db", "--resume",
      "{planned}", "--devices", "ok.yaml"),
    C("resume", "missing-database", "new.db: no results database", "run", "--db", "new.db", "--resume", "x"),
    # --- issue 31: output flags never overwrite a results database --------------------------------------------
    C("db-as-output", "results-csv-out-the-db", "--out good.db: that is the results database", "results", "--db",
      "good.db", "--format", "csv", "--out", "good.db"),
    C("db-as-output", "results-out-symlink-to-db", "--out link.db: that is the results database", "results",
      "--db", "good.db", "--format", "json", "--out", "link.db"),
    C("db-as-output", "results-out-db-by-other-path", "--out ./keys/../good.db: that is the results database",
      "results", "--db", "good.db", "--out", "./keys/../good.db"),
    C("db-as-output", "report-out-the-db", "--out good.db: that is the results database", "report", "--db",
      "good.db", "--out", "good.db"),
    C("db-as-output", "report-out-another-sqlite", "--out foreign.db: an SQLite database", "report", "--db",
      "good.db", "--out", "foreign.db"),
    C("db-as-output", "results-default-db-out", "--out results.db: that is the results database", "results",
      "--out", "results.db"),
    # --- issue 31: lists and paths that name nothing, or names no file system takes --------------------------
    C("empty-values", "models-only-comma", "--models ',': names nothing", "run", "--devices", "ok.yaml",
      "--models", ","),
    C("empty-values", "variants-only-commas", "--variants ',,': names nothing", "run", "--devices", "ok.yaml",
      "--variants", ",,"),
    C("empty-values", "db-empty", "--db: an empty path", "run", "--devices", "ok.yaml", "--db", ""),
    C("empty-values", "results-db-empty", "--db: an empty path", "results", "--db", ""),
    C("empty-values", "devices-empty-path", "--devices: an empty path", "run", "--devices", ""),
    C("long-names", "devices-300-byte-name", "--devices: a name in the path is longer than 255 bytes", "run",
      "--devices", "y" * 300 + ".yaml"),
    C("long-names", "db-300-byte-name", "--db: a name in the path is longer than 255 bytes", "results", "--db",
      "keys/" + "d" * 300 + ".db"),
    C("long-names", "models-300-byte-name", "--models: a name in the path is longer than 255 bytes", "run",
      "--devices", "ok.yaml", "--models", "m" * 300 + ".tflite"),
    C("long-names", "cache-dir-300-byte-name", "--cache-dir: a name in the path", "run", "--devices", "ok.yaml",
      "--cache-dir", "c" * 300),
    C("long-names", "report-out-utf8-over-255-bytes", "--out: a name in the path is longer than 255 bytes",
      "report", "--db", "good.db", "--out", "é" * 130 + ".html"),
    C("long-names", "import-file-300-bytes", "FILE: a name in the path", "import", "benchmark_model", "f" * 300),
    # --- issue 31: duplicates after canonical names ------------------------------------------------------------
    C("duplicates", "variant-twice", "--variants: 'fp32' is given twice", "run", "--devices", "ok.yaml",
      "--models", "srcnn", "--variants", "fp32,fp32"),
    C("duplicates", "variant-same-parameters", "are both", "run", "--devices", "ok.yaml", "--models", "srcnn",
      "--variants", "prune@sparsity=0.5,prune@sparsity=0.50"),
    C("duplicates", "yaml-key-twice", "dup_key.yaml: line 4: key 'defaults' appears twice", "run", "--devices",
      "dup_key.yaml"),
    C("duplicates", "yaml-device-key-twice", "dup_device_key.yaml: line 5: key 'bench' appears twice", "devices",
      "--devices", "dup_device_key.yaml"),
    # --- issue 31: every bound checked ------------------------------------------------------------------------
    C("bounds", "discover-adb-port-70000", "--adb-port", "devices", "discover", "--adb-port", "70000"),
    C("bounds", "discover-adb-port-0", "--adb-port", "devices", "discover", "--adb-port", "0"),
    C("bounds", "farm-port-70000", "--port", "farm", "up", "--port", "70000"),
    C("bounds", "farm-port-negative", "--port", "farm", "up", "--port", "-1"),
    C("bounds", "warmup-inf-in-file", "bench.warmup_s", "run", "--devices", "warmup_inf.yaml"),
    C("bounds", "cooldown-inf-in-defaults", "defaults.cooldown_s", "run", "--devices", "cooldown_inf.yaml"),
    C("bounds", "password-env-unset", "(pi).password_env: names $HARNESS_TEST_UNSET_PASSWORD, which is not set",
      "devices", "--devices", "password_unset.yaml"),
    C("bounds", "import-negative-latency", "bm_negative.txt: not a usable benchmark_model log: min_us", "import",
      "benchmark_model", "bm_negative.txt", "--store", "--db", "good.db"),
    C("bounds", "import-infinite-latency", "bm_inf.txt: not a usable benchmark_model log: max_us", "import",
      "benchmark_model", "bm_inf.txt"),
    C("bounds", "json-with-format-csv", "--json and --format csv", "history", "--db", "good.db", "--device",
      "local", "--model", "srcnn", "--json", "--format", "csv"),
    C("bounds", "compare-json-with-format-md", "--json and --format md", "compare", "A", "B", "--db", "good.db",
      "--json", "--format", "md"),
    C("bounds", "resume-with-repeat", "--resume: cannot be combined with --repeat", "run", "--db", "good.db",
      "--resume", "{planned}", "--repeat", "3"),
    C("bounds", "dynamic-input-shape", "--models models/dynamic.tflite: input", "run", "--devices", "ok.yaml",
      "--models", "models/dynamic.tflite", "--variants", "fp32"),
    C("bounds", "input-shape-not-dims", "--input-shape", "run", "--devices", "ok.yaml", "--input-shape", "x=ax3"),
    C("bounds", "input-shape-zero", "--input-shape", "run", "--devices", "ok.yaml", "--input-shape", "x=1x0x3"),
    # --- issue 31: messages that say what is wrong -------------------------------------------------------------
    C("messages", "import-10-GB-file", "huge_log.txt: 10.7 GB, larger than any benchmark_model log", "import",
      "benchmark_model", "huge_log.txt"),
    C("messages", "model-10-GB-file", "--models models/huge.tflite: 10.7 GB", "run", "--devices", "ok.yaml",
      "--models", "models/huge.tflite"),
    C("messages", "many-values-not-alias-bomb", "many_values.yaml: more than 100000 values; a devices file",
      "run", "--devices", "many_values.yaml"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if st.st_size < 64 << 20 else "(large: size, mtime)"
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.fixture(scope="session")
def good_db(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A real results database: one planned run (with a row) and one imported run."""
    from harness.orchestration.measure import error_measurement
    from harness.planning.config import local_only
    from harness.planning.plan import Plan
    from harness.store.db import ResultsDB
    from harness.store.results import RunInfo

    path = tmp_path_factory.mktemp("gooddb") / "good.db"
    db = ResultsDB(path)
    plan = Plan(("srcnn",), ("fp32",), local_only())
    db.add_run(RunInfo("20260101-000000-aaaaaa", 1.0, "host", None, {}, plan.to_dict(), status="interrupted"))
    db.add(error_measurement("20260101-000000-aaaaaa", "local", "srcnn", "fp32", "device unreachable: test"))
    db.add_run(RunInfo("20260102-000000-bbbbbb", 2.0, "host", None, {},
                       {"imported": "benchmark_model", "file": "bm.txt"}, status="finished"))
    db.close()
    return path, {"planned": "20260101-000000-aaaaaa", "imported": "20260102-000000-bbbbbb"}


@pytest.fixture(scope="session")
def model_files(tmp_path_factory, tiny_tflite) -> Path:
    """Model files that are not what their names say: empty, text, truncated, foreign."""
    root = tmp_path_factory.mktemp("badmodels")
    (root / "empty.tflite").write_bytes(b"")
    (root / "text.tflite").write_text("this is not a model\n")
    data = tiny_tflite.read_bytes()
    (root / "truncated.tflite").write_bytes(data[: len(data) // 2])
    for folder in ("a", "b"):  # valid files, same file name: their rows would share one key
        (root / folder).mkdir()
        (root / folder / "net.tflite").write_bytes(data)
    (root / "text.keras").write_text("not a zip\n")
    with zipfile.ZipFile(root / "noconfig.keras", "w") as z:
        z.writestr("weights.bin", b"\0" * 4096)
    with zipfile.ZipFile(root / "full.keras", "w") as z:
        z.writestr("config.json", "{}" + " " * 4000)
        z.writestr("model.weights.h5", os.urandom(8192))
    full = (root / "full.keras").read_bytes()
    (root / "truncated.keras").write_bytes(full[: len(full) // 2])
    (root / "full.keras").unlink()
    (root / "text.h5").write_text("not hdf5\n")
    import h5py
    import numpy as np

    with h5py.File(root / "full.h5", "w") as f:
        f.attrs["model_config"] = "{}"
        f.create_dataset("w", data=np.zeros(20000, dtype="float32"))
    full = (root / "full.h5").read_bytes()
    (root / "truncated.h5").write_bytes(full[: len(full) // 2])
    (root / "full.h5").unlink()
    (root / "notsm").mkdir()
    (root / "notsm" / "variables").mkdir()
    (root / "badsm").mkdir()
    (root / "badsm" / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\x0f" + b"junk")
    (root / "net.onnx").write_bytes(b"\x08\x07" + os.urandom(64))
    import tensorflow as tf

    dyn = tf.keras.Sequential([tf.keras.Input((None, None, 3)), tf.keras.layers.Conv2D(2, 3, padding="same")])
    (root / "dynamic.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(dyn).convert())
    return root


@pytest.fixture
def workdir(tmp_path, good_db, model_files, device_outputs) -> tuple[Path, dict[str, str]]:
    """A folder holding everything a case names, as the user would type it (relative paths)."""
    work = tmp_path / "work"
    work.mkdir()
    for name, text in DEVICE_FILES.items():
        (work / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    (work / "keys").mkdir()
    (work / "keys" / "README").write_text("a folder where a key file is expected\n")
    shutil.copy2(good_db[0], work / "good.db")
    (work / "garbage.db").write_bytes(b"this is not SQLite at all\n" * 200)
    raw = good_db[0].read_bytes()
    (work / "truncated.db").write_bytes(raw[:4096] + b"\0" * 100)
    shutil.copy2(good_db[0], work / "future.db")
    con = sqlite3.connect(work / "future.db")
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    con = sqlite3.connect(work / "foreign.db")
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    con.execute("INSERT INTO photos (path) VALUES ('a.jpg')")
    con.commit()
    con.close()
    (work / "zero.db").write_bytes(b"")
    shutil.copytree(model_files, work / "models")
    shutil.copy(device_outputs / "benchmark_model.android_gpu.txt", work / "bm.txt")
    log = (work / "bm.txt").read_text()
    assert "min=113737 max=124776" in log
    (work / "bm_negative.txt").write_text(log.replace("min=113737", "min=-5"))
    (work / "bm_inf.txt").write_text(log.replace("max=124776", "max=1e999"))
    (work / "link.db").symlink_to("good.db")
    with open(work / "huge_log.txt", "wb") as f:  # 10 GB, sparse: no disk used
        f.truncate(10 << 30)
    with open(work / "models" / "huge.tflite", "wb") as f:
        f.write(b"\x1c\0\0\0TFL3")
        f.truncate(10 << 30)
    shutil.copy2(good_db[0], work / "results.db")  # the default --db
    return work, good_db[1]


def test_catalog_size_and_classes():
    ids = [f"{c.klass}/{c.id}" for c in CATALOG]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    assert len(CATALOG) >= 60
    assert len({c.klass for c in CATALOG}) >= 12


def _case_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DB", "HARNESS_TOKEN")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # outside the snapshot: a refusal builds nothing anyway
    env["HOME"] = str(tmp_path / "home")
    return env


# One case of each kind of refusal path: argparse, the devices file, a model file read in a child process,
# the results database, an imported log.
COLD_SAMPLE = ("flags/unknown-flag", "yaml-alias/billion-laughs", "types/threads-a-word", "model-file/tflite-truncated",
               "database/results-garbage", "folders/import-a-folder", "resume/imported-run")


@pytest.mark.parametrize("case_id", COLD_SAMPLE)
def test_a_cold_start_refuses_exactly_as_the_forked_one(case_id: str, workdir, tmp_path, harness_cli):
    """`python -m harness` started cold gives the same exit status, stdout and stderr as the forked process the
    catalog uses, byte for byte."""
    case = next(c for c in CATALOG if f"{c.klass}/{c.id}" == case_id)
    work, ids = workdir
    args = [a.format(**ids) if "{" in a else a for a in case.args]
    env = _case_env(tmp_path)
    cold = subprocess.run([sys.executable, "-m", "harness", *args], cwd=work, env=env, capture_output=True,
                          timeout=120)
    warm = harness_cli(*args, cwd=work, env=env, timeout=120)
    assert cold.returncode == 2 and cold.stderr  # a refusal, so the comparison means something
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


@pytest.mark.parametrize("case", CATALOG, ids=[f"{c.klass}/{c.id}" for c in CATALOG])
def test_bad_input_ends_in_one_line_and_exit_2(case: Case, workdir, tmp_path, harness_cli):
    """Each case is a real process forked from a warm interpreter (tests/cli_fork.py); the cold start is
    checked against it below."""
    work, ids = workdir
    args = [a.format(**ids) if "{" in a else a for a in case.args]
    needle = case.needle.format(**ids)
    env = _case_env(tmp_path)
    before = _snapshot(work)
    res = harness_cli(*args, cwd=work, env=env, timeout=120)
    err = res.stderr.decode("utf-8", "replace")
    out = res.stdout.decode("utf-8", "replace")
    shown = err[:2000]
    assert res.returncode == 2, f"exit {res.returncode}:\n{shown}\n{out[:1000]}"
    assert "Traceback" not in err + out, shown
    assert out == "", f"a refusal prints nothing on stdout: {out[:500]!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, f"{len(lines)} lines on stderr:\n{shown}"
    assert len(err) <= 1500, f"unbounded echo: {len(err)} characters"
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in err), \
        f"raw control character on stderr: {err[:500]!r}"
    assert needle in err, f"{needle!r} not in:\n{shown}"
    after = _snapshot(work)
    assert set(after) == set(before), f"files appeared or vanished: {sorted(set(after) ^ set(before))}"
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"a refused command wrote to {changed}"
