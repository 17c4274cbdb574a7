"""What this machine can check of the companion apps' code that it cannot build (no Xcode, no Android SDK).

- android_app/: every XML parsed (Python's expat here; the JDK's in AndroidXmlTest), and the manifest and
  resources linked by Debian's `aapt` against Debian's `android-framework-res` (the real framework resources,
  API 29), as the manifest merger and resource linker of the Gradle build would; skipped, naming the package,
  where they are not installed (.ci/apt-packages.txt installs them).
- ios_app/: the Xcode spec's SWIFT_VERSION, the Swift language rule that made CoreMLRunner's compileModel
  call a build error (reproduced with swiftc against a type with both SDK overloads), iOS-only SwiftUI
  modifiers behind os(iOS) where a file also builds for macOS, and the autorelease pool around predictions.
- the live stream's opening (URLSession holds the first 512 bytes back to sniff) and the Android app's job
  extras (input_shapes, the eval set) with the host scoring the outputs the app returns.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ANDROID = REPO / "android_app"
IOS = REPO / "ios_app"
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")


def _android_xml() -> list[Path]:
    return sorted(p for p in ANDROID.rglob("*.xml") if "/build/" not in str(p))


def test_every_xml_under_android_app_is_well_formed():
    files = _android_xml()
    assert any(p.name == "AndroidManifest.xml" for p in files) and len(files) >= 4
    for p in files:
        try:
            ET.parse(p)
        except ET.ParseError as exc:
            pytest.fail(f"{p.relative_to(REPO)} is not well-formed: {exc}")


def _aapt() -> str:
    exe = shutil.which("aapt")
    if exe is None:
        pytest.skip("needs aapt: apt-get install aapt (listed in .ci/apt-packages.txt)")
    if not FRAMEWORK_RES.is_file():
        pytest.skip(f"needs {FRAMEWORK_RES}: apt-get install android-framework-res (listed in .ci/apt-packages.txt)")
    return exe


def _link(tmp_path: Path, manifest_text: str) -> tuple[subprocess.CompletedProcess, Path]:
    """aapt package of the app's manifest and res/ against the framework, as the Android build links them.
    The build's namespace (app/build.gradle.kts) is the manifest's package, as the manifest merger sets it."""
    namespace = re.search(r'namespace = "([^"]+)"', (ANDROID / "app/build.gradle.kts").read_text())
    assert namespace, "app/build.gradle.kts names its namespace"
    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "AndroidManifest.xml").write_text(
        manifest_text.replace("<manifest ", f'<manifest package="{namespace.group(1)}" ', 1))
    apk = tmp_path / "linked.apk"
    proc = subprocess.run([_aapt(), "package", "-f", "-M", str(folder / "AndroidManifest.xml"),
                           "-S", str(ANDROID / "app/src/main/res"), "-I", str(FRAMEWORK_RES),
                           "--min-sdk-version", "26", "--target-sdk-version", "34", "-F", str(apk)],
                          capture_output=True, text=True, timeout=120)
    return proc, apk


def test_the_manifest_and_resources_link_against_the_framework(tmp_path):
    manifest = (ANDROID / "app/src/main/AndroidManifest.xml").read_text()
    proc, apk = _link(tmp_path, manifest)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = subprocess.run([_aapt(), "dump", "xmltree", str(apk), "AndroidManifest.xml"], capture_output=True,
                          text=True, timeout=60).stdout
    # The job activity wakes a phone whose screen is off (attributes the framework knows, API 27+).
    assert re.search(r"android:turnScreenOn\(0x0101056a\)=\(type 0x12\)0xffffffff", tree), tree
    assert re.search(r"android:showWhenLocked\(0x01010569\)=\(type 0x12\)0xffffffff", tree), tree
    assert "android:networkSecurityConfig" in tree and "@0x7f" in tree  # res/xml resolved


def test_the_linker_is_a_real_check(tmp_path):
    """A misspelt framework attribute and a malformed comment both fail the link."""
    manifest = (ANDROID / "app/src/main/AndroidManifest.xml").read_text()
    proc, _ = _link(tmp_path, manifest.replace("android:turnScreenOn", "android:turnScreenOnn"))
    assert proc.returncode != 0 and "turnScreenOnn" in proc.stdout + proc.stderr
    bad = tmp_path / "b"
    bad.mkdir()
    proc, _ = _link(bad, manifest.replace("<application", "<!-- --es x --><application", 1))
    assert proc.returncode != 0 and "not well-formed" in proc.stdout + proc.stderr


def test_the_xcode_spec_names_a_swift_version_xcode_accepts():
    spec = yaml.safe_load((IOS / "App/project.yml").read_text())
    for name, target in spec["targets"].items():
        version = str(target["settings"]["base"]["SWIFT_VERSION"])
        assert version in {"4.0", "4.2", "5.0", "6.0"}, f"{name}: SWIFT_VERSION {version}"


def _swiftc() -> str:
    found = shutil.which("swiftc") or ("/opt/swift/usr/bin/swiftc" if Path("/opt/swift/usr/bin/swiftc").is_file()
                                       else None)
    if found is None:
        pytest.skip("install the Swift 6 toolchain (swift.org) to type-check the Core ML call")
    return found


def test_the_compile_model_call_type_checks_against_both_sdk_overloads(tmp_path):
    """MLModel.compileModel(at:) has a sync and an async overload; inside an async function Swift picks the
    async one, which needs `await`. The runner's own line, type-checked against a type with both."""
    src = (IOS / "Sources/HarnessIOS/CoreMLRunner.swift").read_text()
    lines = [ln.strip() for ln in src.splitlines() if "MLModel.compileModel(at:" in ln]
    assert len(lines) == 1, lines
    enclosing = re.search(r"static func compiledModelURL\(_ url: URL\) async throws -> URL \{", src)
    assert enclosing, "the compile call sits in an async function"
    probe = tmp_path / "probe.swift"
    probe.write_text(f"""import Foundation
enum MLModel {{  // CoreML's two overloads (iOS 16+): the synchronous one and the async one
    static func compileModel(at url: URL) throws -> URL {{ url }}
    static func compileModel(at url: URL) async throws -> URL {{ url }}
}}
func compiledModelURL(_ url: URL) async throws -> URL {{
    {lines[0]}
    return compiled
}}
""")
    proc = subprocess.run([_swiftc(), "-typecheck", str(probe)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe.write_text(probe.read_text().replace("try await MLModel", "try MLModel"))
    proc = subprocess.run([_swiftc(), "-typecheck", str(probe)], capture_output=True, text=True, timeout=300)
    assert "is 'async' but is not marked with 'await'" in proc.stderr  # the rule this guards against


IOS_ONLY = ("keyboardType(", "textInputAutocapitalization(", "navigationBarTitleDisplayMode(", "UIApplication",
            "UIDevice", "statusBarHidden(")


def _guards(lines: list[str], upto: int) -> list[str]:
    stack: list[str] = []
    for ln in lines[:upto]:
        s = ln.strip()
        if s.startswith("#if"):
            stack.append(s)
        elif s.startswith("#elseif"):
            stack[-1] = s
        elif s.startswith("#else"):
            stack[-1] = "#else " + stack[-1]
        elif s.startswith("#endif"):
            stack.pop()
    return stack


def test_ios_only_api_sits_behind_an_ios_condition():
    """A file that also builds for macOS (`swift build` on a Mac) uses iOS-only API only under os(iOS) or
    canImport(UIKit)."""
    for path in sorted((IOS / "Sources").rglob("*.swift")):
        lines = path.read_text().splitlines()
        for i, ln in enumerate(lines):
            code = ln.split("//", 1)[0]
            for symbol in IOS_ONLY:
                if symbol in code:
                    guards = [g for g in _guards(lines, i) if not g.startswith("#else")]
                    assert any("os(iOS)" in g or "canImport(UIKit)" in g for g in guards), \
                        f"{path.relative_to(REPO)}:{i + 1} uses {symbol.rstrip('(')} outside an iOS condition"


def test_core_ml_predictions_in_the_timed_loop_drain_an_autorelease_pool():
    src = (IOS / "Sources/HarnessIOS/CoreMLRunner.swift").read_text()
    loop = re.search(r"timedLoop\(job\.loop.*?\{\n(.*?)\n        \}", src, re.S)
    assert loop and "drainingPool" in loop.group(1) and "prediction(from:" in loop.group(1), loop and loop.group(1)


def test_the_event_stream_opens_past_the_sniffing_threshold(tmp_path):
    """The first write reaches 512 bytes and says nosniff: URLSession hands it over at once."""
    import socket

    from harness.live.server import LiveServer

    with LiveServer(tmp_path / "r.db", host="127.0.0.1", port=0, watch_db=False) as server:
        token = server.url.split("token=")[-1] if "token=" in server.url else ""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{auth}\r\n".encode())
            raw = b""
            while b"\r\n\r\n" not in raw or not raw.split(b"\r\n\r\n", 1)[1].endswith(b"\n\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"200" in head.split(b"\r\n")[0], head
    assert b"x-content-type-options: nosniff" in head.lower()
    assert body.startswith(b"retry: ") and len(body) >= 512 and b"id:" not in body


def test_the_android_app_gets_input_shapes_and_the_eval_set_and_its_outputs_are_scored(android_device, adb_sim,
                                                                                        tmp_path):
    import numpy as np

    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    model = tmp_path / "tiny.tflite"
    model.write_bytes(b"TFL3" + bytes(64))
    inputs = np.arange(2 * 4 * 4 * 3, dtype="<f4")
    ev = tmp_path / "eval.f32"
    ev.write_bytes(inputs.tobytes())
    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=BenchSettings(min_runs=3, timeout_s=30.0),
                              input_shapes={"x": [1, 4, 4, 3]}, eval_inputs=ev, eval_shape=(1, 4, 4, 3), eval_count=2))
    import json
    import shlex

    c = json.loads((REPO / "contracts/android/am_start.json").read_text())
    extras = adb_sim.app.starts[-1]["extras"]
    optional = {k: v for k, v in extras.items() if k not in c["extras"]}
    assert set(optional) == {"eval_count", "eval_path", "eval_shape", "input_shapes"}  # sustained_s: sustained only
    assert {k: v for k, v in optional.items() if k != "eval_path"} == \
        {k: c["optional_extras"][k] for k in optional if k != "eval_path"}  # what the JVM JobRequestTest reads
    assert re.fullmatch(r"/sdcard/Android/data/dev\.harness\.companion/files/harness/eval/[0-9a-f]{16}\.f32",
                        extras["eval_path"])
    argv = shlex.split(next(cmd for cmd in reversed(adb_sim.commands) if cmd.startswith("am start")))
    sent = {argv[i + 1]: argv[i] for i, a in enumerate(argv) if a.startswith("--e")}
    assert {k: sent[k] for k in optional} == {k: c["optional_extra_types"][k] for k in optional}
    assert raw.outputs is not None and raw.outputs.shape == (2, 4, 4, 3)
    assert np.array_equal(raw.outputs.ravel(), inputs)
    assert "_outputs" not in raw.extra and "outputs_error" not in raw.extra


def test_an_android_eval_that_failed_on_the_phone_keeps_the_timing(android_device, adb_sim, tmp_path):
    from devices.android_target import AndroidTarget
    from devices.runner_result import RunnerResult
    from devices.runtime.app_files import AdbFiles, app_outputs

    t = AndroidTarget(android_device(runtime="app"))
    with pytest.raises(ValueError, match="evaluation pass failed: IllegalArgumentException: eval_shape"):
        app_outputs(AdbFiles(t), {"eval_error": "IllegalArgumentException: eval_shape [1, 3] does not match"},
                    RunnerResult())


def test_an_android_phone_running_the_app_gets_eval_sets_for_every_variant(tmp_path, monkeypatch):
    """The host prepares held-out inputs for .tflite variants too once an Android device runs the app, and
    hands them to that device's jobs (before, only iPhones' Core ML variants were scored on the device)."""
    from types import SimpleNamespace

    from converters import device_eval
    from harness.orchestration import orchestrate

    prepared: list[str] = []
    monkeypatch.setattr(device_eval, "prepare", lambda src, folder, image_dir: prepared.append(src) or src)
    built = {("m1", "fp32"): SimpleNamespace(path="a"), ("m1", "int8"): SimpleNamespace(path="b"),
             ("m2", "fp16"): RuntimeError("conversion failed"), orchestrate.PEAK_KEY: {}}
    class ZooName(str):  # a zoo model's source (its spec is known), named like the model
        spec = "zoo"

    builder = SimpleNamespace(source=ZooName, cache_dir=tmp_path, task=None, image_dir=None)

    def sets(*devices: SimpleNamespace) -> list[str]:
        prepared.clear()
        me = SimpleNamespace(plan=SimpleNamespace(devices=SimpleNamespace(enabled=list(devices)), image_dir=None))
        orchestrate.Orchestrator._device_eval_sets(me, builder, dict(built))  # type: ignore[arg-type]
        return sorted(prepared)

    bm = SimpleNamespace(kind="android", runtime="benchmark_model")
    app = SimpleNamespace(kind="android", runtime="app")
    assert sets(bm) == [] and sets(app) == ["m1"]
    assert not orchestrate._scores_on_device(bm) and orchestrate._scores_on_device(app)
    assert orchestrate._scores_on_device(SimpleNamespace(kind="ios"))
