"""What the host needs to know of an Android APK before installing it: package name and versionCode.

Read from the APK's binary AndroidManifest.xml with pyaxmlparser (a small, maintained AXML reader), so a
user points `apk:` at Gradle's output and nothing else; `apk_version_code:` in devices.yaml overrides it
where the parser is not installed.
"""
from __future__ import annotations

import re
from pathlib import Path


class ApkError(ValueError):
    """The file is not an APK we can read: the message names the file and why."""


def apk_identity(path: Path) -> tuple[str, int]:
    """(package, versionCode) from the APK's manifest."""
    try:
        from pyaxmlparser import APK
    except ImportError:
        raise ApkError(f"{path}: reading an APK's version needs pyaxmlparser (pip install pyaxmlparser), "
                       "or set apk_version_code: for this device") from None
    try:
        apk = APK(str(path))
        package, code = apk.package, apk.version_code
    except Exception as exc:  # the parser raises many kinds on a file that is not an APK
        raise ApkError(f"{path}: not a readable APK ({type(exc).__name__})") from None
    if not package or code is None or not str(code).isdigit():
        raise ApkError(f"{path}: the APK's manifest has no package or versionCode")
    return package, int(code)


def installed_version_code(dumpsys_package: str, package: str) -> int | None:
    """versionCode from `dumpsys package PKG` (the `Package [PKG]` block), None when not installed."""
    at = dumpsys_package.find(f"Package [{package}]")
    if at < 0:
        return None
    m = re.search(r"\bversionCode=(\d+)", dumpsys_package[at:])
    return int(m.group(1)) if m else None
