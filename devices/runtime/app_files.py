"""The companion apps' own folder on the phone: what the app runtime (devices/runtime/companion_app.py) puts
there and takes back, through whatever transport the platform lends (adb's file sync on Android, AFC through
devices/ios_adapter.py on an iPhone). Names are content-addressed (devices/remote_paths.py): the same model
or eval set is pushed once per phone."""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devices.app_outputs import pull_outputs
from devices.job import JobSpec
from devices.remote_paths import content_key, content_path
from devices.runner_result import RunnerResult
from devices.runtime.phone import IPhone, Phone
from errors import DeviceError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

COREML_SUFFIX = ".mlpackage.zip"


class AppFiles(Protocol):
    """The app's folder on the phone as the platform's transport reaches it (paths relative as the app names
    them: absolute on Android, under Documents on iOS)."""

    def push(self, local: Path, remote: str) -> None: ...
    def pull(self, remote: str, local: Path) -> None: ...
    def remove(self, remote: str) -> None: ...
    def size(self, remote: str) -> int | None: ...


class AdbFiles:
    """The Android app's external files directory through adb's file sync."""

    def __init__(self, platform: Phone) -> None:
        self.adb = platform.adb

    def push(self, local: Path, remote: str) -> None:
        self.adb.push(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        self.adb.pull(remote, local)

    def remove(self, remote: str) -> None:
        self.adb.remove(remote)

    def size(self, remote: str) -> int | None:
        st = self.adb.stat(remote)
        return st[1] if st is not None else None


def app_outputs(files: AppFiles, block: Mapping[str, object] | None,
                result: RunnerResult) -> npt.NDArray[np.float32] | None:
    """The app's evaluation outputs (raw little-endian float32) as an array of outputs_shape, or None; ValueError
    when the app says its evaluation pass failed or wrote a different number of values."""
    block = block or {}
    if block.get("eval_error"):
        raise ValueError(f"the app's evaluation pass failed: {str(block['eval_error'])[:200]}")
    remote, shape = block.get("outputs_path"), block.get("outputs_shape")
    if result.error or not remote or not isinstance(shape, list) or not shape:
        return None
    return pull_outputs(files.pull, files.remove, str(remote), shape)


def push_ios_model(platform: IPhone, local: Path) -> str:
    """Content-addressed under Documents/models, pushed once per phone: a Core ML package unpacked from the
    cached zip, or a .tflite for apps built with the TensorFlow Lite pod."""
    files, name = platform.adapter, local.name
    if name.endswith(COREML_SUFFIX):
        remote = content_path("models", local, name[:-len(".zip")])
        if files.size(f"{remote}/Manifest.json") is None:
            with tempfile.TemporaryDirectory() as tmp:
                pkg = unzip_package(platform.name, local, Path(tmp))
                files.remove(remote)  # a half-pushed package from a broken run
                staged = pkg.with_name(Path(remote).name)
                pkg.rename(staged)
                files.push(staged, remote)
        return remote
    if name.endswith(".tflite"):
        remote = content_path("models", local)
        if files.size(remote) != local.stat().st_size:
            files.push(local, remote)
        return remote
    raise DeviceError(platform.name, f"{name}: the iOS app runs Core ML (.mlpackage) or .tflite variants, not "
                      f"{local.suffix}")


def unzip_package(device: str, artifact: Path, dest: Path) -> Path:
    """The cached `.mlpackage.zip` (one top-level `*.mlpackage/` folder) unpacked under dest; entries that would
    land outside dest are refused."""
    dest = dest.resolve()
    try:
        with zipfile.ZipFile(artifact) as zf:
            names = zf.namelist()
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) != 1 or not next(iter(tops)).endswith(".mlpackage"):
                raise DeviceError(device, f"{artifact.name}: not a zipped .mlpackage")
            if any(not str((dest / n).resolve()).startswith(str(dest) + os.sep) for n in names):
                raise DeviceError(device, f"{artifact.name}: an entry points outside the package")
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise DeviceError(device, f"{artifact.name}: not a zip ({exc})") from None
    return dest / next(iter(tops))


def push_eval(files: AppFiles, job: JobSpec) -> dict[str, object] | None:
    """The held-out inputs under Documents/eval (once per phone), as the job's `eval` entry."""
    if job.eval_inputs is None or not job.eval_shape or job.eval_count <= 0:
        return None
    local = Path(job.eval_inputs)
    remote = f"eval/{content_key(local)}.f32"
    if files.size(remote) != local.stat().st_size:
        files.push(local, remote)
    return {"path": remote, "shape": [int(d) for d in job.eval_shape], "count": int(job.eval_count)}
