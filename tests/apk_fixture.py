"""A minimal but real APK for tests: a zip whose AndroidManifest.xml is Android's binary XML (AXML) with
package, versionCode and versionName, as aapt2 writes them (string pool, resource map with the framework
attribute ids, namespace and element chunks). Nothing here is a build of the companion app; it is what the
host reads from an APK (pyaxmlparser parses it as it parses one from Gradle).
"""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

ANDROID_NS = "http://schemas.android.com/apk/res/android"
VERSION_CODE_ID, VERSION_NAME_ID = 0x0101021B, 0x0101021C  # android.R.attr.versionCode / versionName
NONE = 0xFFFFFFFF


def _chunk(kind: int, header: bytes, body: bytes) -> bytes:
    return struct.pack("<HHI", kind, 8 + len(header), 8 + len(header) + len(body)) + header + body


def _string_pool(strings: list[str]) -> bytes:
    data, offsets = b"", []
    for s in strings:
        offsets.append(len(data))
        enc = s.encode("utf-16-le")
        data += struct.pack("<H", len(s)) + enc + b"\0\0"
    data += b"\0" * (-len(data) % 4)
    offs = b"".join(struct.pack("<I", o) for o in offsets)
    header = struct.pack("<IIIII", len(strings), 0, 0, 28 + len(offs), 0)
    return _chunk(0x0001, header, offs + data)


def manifest_axml(package: str, version_code: int, version_name: str) -> bytes:
    strings = ["versionCode", "versionName", "android", ANDROID_NS, "package", "manifest", package, version_name]
    idx = {s: i for i, s in enumerate(strings)}
    pool = _string_pool(strings)
    resmap = _chunk(0x0180, b"", struct.pack("<II", VERSION_CODE_ID, VERSION_NAME_ID))
    node = struct.pack("<II", 1, NONE)
    ns = _chunk(0x0100, node, struct.pack("<II", idx["android"], idx[ANDROID_NS]))
    attrs = [  # (ns, name, raw value, type, data): TYPE_INT_DEC 0x10, TYPE_STRING 0x03
        (idx[ANDROID_NS], idx["versionCode"], NONE, 0x10, version_code),
        (idx[ANDROID_NS], idx["versionName"], idx[version_name], 0x03, idx[version_name]),
        (NONE, idx["package"], idx[package], 0x03, idx[package]),
    ]
    body = struct.pack("<IIHHHHHH", NONE, idx["manifest"], 20, 20, len(attrs), 0, 0, 0)
    body += b"".join(struct.pack("<IIIHBBI", a, n, raw, 8, 0, t, d) for a, n, raw, t, d in attrs)
    start = _chunk(0x0102, node, body)
    end = _chunk(0x0103, node, struct.pack("<II", NONE, idx["manifest"]))
    end_ns = _chunk(0x0101, node, struct.pack("<II", idx["android"], idx[ANDROID_NS]))
    return _chunk(0x0003, b"", pool + resmap + ns + start + end + end_ns)


def make_apk(path: Path, package: str = "dev.harness.companion", version_code: int = 3,
             version_name: str = "0.3.0") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("AndroidManifest.xml", manifest_axml(package, version_code, version_name))
        z.writestr("classes.dex", b"dex\n035\0" + bytes(104))
    return path
