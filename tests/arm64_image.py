"""Build a Debian arm64 board image for qemu-system-aarch64 from Debian packages alone (no binfmt, no KVM).

`mmdebstrap --variant=extract` unpacks the arm64 packages without running any of their maintainer scripts
(nothing arm64 runs on this x86 host), so the few files those scripts would write are written here by hand:
passwd/group/shadow from base-passwd's masters, sshd_config, fstab, the .pyc files py3compile would have
written, and /sbin/harness-init, the guest's PID 1, which does the rest inside the guest at each boot
(ldconfig, the network, the ssh host key). The
kernel is Debian's linux-image-arm64; its initramfs is made here (busybox-static arm64, the virtio and
ext4 modules of that kernel, an /init that loads them and switch_roots), and the root filesystem is an
ext4 image written by `mke2fs -d` (no loop mount). The result is cached in the user's cache folder under
the sha256 of this file and the package list, so only the first run downloads and builds.

Run `python -m tests.arm64_image` to build (or find) it ahead of the tests.
"""
from __future__ import annotations

import compileall
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("base-files", "base-passwd", "bash", "coreutils", "dash", "diffutils", "findutils", "grep", "gzip",
            "hostname", "libc-bin", "mount", "procps", "sed", "tar", "util-linux", "iproute2", "kmod",
            "openssh-server", "python3", "python3-venv", "python3-numpy", "libstdc++6", "busybox-static",
            "linux-image-arm64")
# Loaded by the initramfs, with what each needs (its .modinfo depends=); those built into the kernel are skipped.
MODULES = ("virtio_mmio", "virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "crc32c_generic", "ext4")
# Only what sshd, the runner and `harness devices setup` read is kept; docs and the rest of the modules go.
PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/lib/modules",
         "var/cache/apt/archives")
HOST_KEY_TAG = "HARNESS_HOST_KEY"  # the guest prints its host key after this on the serial console
FREE_MB = 640  # room on the board for the venv, the wheels and the models

GUEST_INIT = f"""#!/bin/sh
# PID 1 of the emulated board: what the packages' maintainer scripts and systemd would have done.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -o remount,rw /
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
ldconfig
hostname -F /etc/hostname
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
# the host's public key comes on the kernel command line (no secret there); the host key is made here
for arg in $(cat /proc/cmdline); do
  case "$arg" in harness_key=*) key="${{arg#harness_key=}}";; esac
done
mkdir -p -m 700 /root/.ssh
[ -n "$key" ] && echo "ssh-ed25519 $key harness-tests" > /root/.ssh/authorized_keys
mkdir -p -m 755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key </dev/null
echo "{HOST_KEY_TAG} $(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
/usr/sbin/sshd -D -e &
while :; do wait; done
"""

INITRAMFS_INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod "/modules/$m" || echo "initramfs: insmod $m failed"; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
mount -t ext4 /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; poweroff -f; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/harness-init
"""

SSHD_CONFIG = """# written by tests/arm64_image.py (openssh-server's postinst did not run)
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
ClientAliveInterval 5
MaxStartups 50
MaxSessions 50
Subsystem sftp /usr/lib/openssh/sftp-server
"""


@dataclass(frozen=True)
class BoardImage:
    """The built image's files; `disk` is booted with snapshot=on, so it stays as built."""

    folder: Path
    kernel: Path
    initrd: Path
    disk: Path
    manifest: dict[str, object]


class ImageBuildError(RuntimeError):
    """A build step failed: the message names the step and its last output lines."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness" / "arm64-board"


def input_digest() -> str:
    """What decides the image: this file (scripts, configs, steps) and the package list."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps([SUITE, MIRROR, PACKAGES, MODULES]).encode())
    return h.hexdigest()[:16]


def missing_tools() -> list[str]:
    """Debian packages this host lacks for building the image (each named as apt knows it)."""
    need = {"mmdebstrap": "mmdebstrap", "mke2fs": "e2fsprogs"}
    return [pkg for tool, pkg in need.items() if shutil.which(tool) is None]


def _run(argv: list[str], step: str, log: Path) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        res = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise ImageBuildError(f"{step} failed (exit {res.returncode}); {log}:\n" + "\n".join(tail))


def find_image(cache: Path | None = None) -> BoardImage | None:
    folder = (cache or cache_root()) / input_digest()
    if not (folder / "manifest.json").exists():
        return None
    return BoardImage(folder, folder / "vmlinuz", folder / "initrd.img", folder / "root.ext4",
                      json.loads((folder / "manifest.json").read_text()))


def build(cache: Path | None = None) -> BoardImage:
    """The cached image, or a new one built from the packages (minutes; needs root for mmdebstrap)."""
    found = find_image(cache)
    if found is not None:
        return found
    folder = (cache or cache_root()) / input_digest()
    work = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "build.log"
    t0 = time.monotonic()
    rootfs = work / "rootfs"
    _run(["mmdebstrap", "--quiet", "--variant=extract", "--architectures=arm64", "--mode=root",
          "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr", f"--include={','.join(PACKAGES)}",
          # the .deb names say which versions were unpacked (extract writes no dpkg status)
          '--extract-hook=ls "$1/var/cache/apt/archives" > "$1/harness-debs.txt"',
          SUITE, str(rootfs), MIRROR], "mmdebstrap (download and unpack the arm64 packages)", log)
    t_extract = time.monotonic() - t0
    versions = _versions(rootfs)
    kernel, release = _kernel(rootfs)
    shutil.copyfile(kernel, work / "vmlinuz")
    modules = _module_closure(rootfs / "usr/lib/modules" / release)
    write_cpio(work / "initrd.img", _initramfs_entries(rootfs, modules))
    configure(rootfs)
    pycs = byte_compile(rootfs)
    for sub in PRUNE:
        shutil.rmtree(rootfs / sub, ignore_errors=True)
    for boot in (rootfs / "boot").glob("*"):
        boot.unlink()
    used_mb = _du_mb(rootfs)
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "harness-root", "-d", str(rootfs), "-E", "root_owner=0:0",
          str(work / "root.ext4"), f"{used_mb + FREE_MB}M"], "mke2fs (root filesystem image)", log)
    shutil.rmtree(rootfs)
    manifest = {"suite": SUITE, "kernel": release, "modules": [m.name for m in modules], "packages": versions,
                "rootfs_mb": used_mb, "pycs": pycs, "build_s": round(time.monotonic() - t0, 1),
                "extract_s": round(t_extract, 1)}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    found = find_image(cache)
    assert found is not None
    return found


def _versions(rootfs: Path) -> dict[str, str]:
    """Package -> version of every unpacked .deb (what the image was built from)."""
    listing = rootfs / "harness-debs.txt"
    out: dict[str, str] = {}
    for name in listing.read_text().split():
        if name.endswith(".deb") and name.count("_") == 2:
            pkg, version, _ = name.split("_")
            out[pkg] = version.replace("%3a", ":")
    listing.unlink()
    return dict(sorted(out.items()))


def _kernel(rootfs: Path) -> tuple[Path, str]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise ImageBuildError(f"no /boot/vmlinuz-* in the unpacked linux-image-arm64 ({rootfs}/boot)")
    return kernels[-1], kernels[-1].name[len("vmlinuz-"):]


def _modname(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def _module_closure(moddir: Path) -> list[Path]:
    """MODULES and what each depends on, dependencies first; built-ins left out. No depmod ran (no maintainer
    scripts), so each module's own `depends=` line in its .modinfo section says what it needs."""
    by_name = {_modname(p): p for p in (moddir / "kernel").rglob("*.ko*")}
    builtin = {_modname(Path(p)) for p in (moddir / "modules.builtin").read_text().split()}
    order: list[Path] = []

    def add(name: str) -> None:
        if name in builtin or any(_modname(p) == name for p in order):
            return
        if name not in by_name:
            raise ImageBuildError(f"kernel module {name} is neither under {moddir}/kernel nor built in")
        info = _ko_bytes(by_name[name])
        at = info.find(b"\0depends=")
        deps = info[at + 9:info.index(b"\0", at + 1)].decode().split(",") if at >= 0 else []
        for dep in filter(None, deps):
            add(dep.replace("-", "_"))
        order.append(by_name[name])

    for name in MODULES:
        add(name)
    return order


def _ko_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise ImageBuildError(f"{path.name}: a compression this builder does not unpack (only .ko and .ko.xz)")


def _initramfs_entries(rootfs: Path, modules: list[Path]) -> list[tuple[str, int, bytes, int]]:
    """(name, mode, data, rdev) for the cpio archive: busybox, the modules in load order, /init."""
    busybox = rootfs / "usr/bin/busybox"
    if not busybox.exists():
        busybox = rootfs / "bin/busybox"
    names = [m.name.split(".ko")[0] + ".ko" for m in modules]
    entries: list[tuple[str, int, bytes, int]] = [
        ("bin", stat.S_IFDIR | 0o755, b"", 0), ("dev", stat.S_IFDIR | 0o755, b"", 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", os.makedev(5, 1)), ("modules", stat.S_IFDIR | 0o755, b"", 0),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes(), 0),
        ("init", stat.S_IFREG | 0o755, INITRAMFS_INIT.encode(), 0),
        ("modules/order", stat.S_IFREG | 0o644, ("\n".join(names) + "\n").encode(), 0),
    ]
    entries += [(f"modules/{n}", stat.S_IFREG | 0o644, _ko_bytes(m), 0) for n, m in zip(names, modules)]
    return entries


def write_cpio(dest: Path, entries: list[tuple[str, int, bytes, int]]) -> None:
    """A newc cpio archive (what the kernel unpacks as an initramfs), written without the cpio tool."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], start=1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, os.major(rdev), os.minor(rdev), len(raw), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + raw)
        pad()
        out.extend(data)
        pad()
    dest.write_bytes(bytes(out))


def configure(rootfs: Path) -> None:
    """The files maintainer scripts would have written, and the guest's PID 1."""
    etc = rootfs / "etc"
    masters = rootfs / "usr/share/base-passwd"
    passwd = (masters / "passwd.master").read_text()
    passwd += "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
    (etc / "passwd").write_text(passwd)
    (etc / "group").write_text((masters / "group.master").read_text())
    users = [line.split(":")[0] for line in passwd.splitlines() if line]
    (etc / "shadow").write_text("".join(f"{u}:*:19000:0:99999:7:::\n" for u in users))  # `*`: no password, not locked
    (etc / "shadow").chmod(0o640)
    (etc / "hostname").write_text("harness-arm64\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 harness-arm64\n")
    (etc / "fstab").write_text("/dev/vda / ext4 rw,relatime 0 1\n")
    (etc / "resolv.conf").write_text("")  # restrict=on: the guest reaches nothing but the host's forwarded port
    (etc / "ssh").mkdir(exist_ok=True)
    (etc / "ssh/sshd_config").write_text(SSHD_CONFIG)
    (rootfs / "root").mkdir(mode=0o700, exist_ok=True)
    # update-alternatives of libblas3/liblapack3 (their postinst): numpy links against these names
    libdir = rootfs / "usr/lib/aarch64-linux-gnu"
    for lib in ("blas/libblas.so.3", "lapack/liblapack.so.3"):
        if (libdir / lib).exists():
            (libdir / Path(lib).name).symlink_to(lib)
    init = rootfs / "sbin/harness-init"
    init.write_text(GUEST_INIT)
    init.chmod(0o755)


def byte_compile(rootfs: Path) -> str:
    """The .pyc files of the guest's standard library and dist-packages, as the python3 packages' postinst
    (py3compile) writes them on a real Debian or Raspberry Pi OS: timestamp-checked, with the guest's paths
    inside. Without them every boot compiled each module at its first import, under TCG: the first `import
    numpy` 11.1 vs 3.9 CPU-s of QEMU, a first pip start 23.6 vs 16.3 (tests/arm64_vm.py's board, one boot each
    way). Written by this host's Python only when it is the guest's minor version (the same magic number)."""
    guest = sorted(p.name for p in (rootfs / "usr/lib").glob("python3.*") if re.fullmatch(r"python3\.\d+", p.name))
    host = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if guest != [host]:
        return f"none: the board's Python is {' '.join(guest) or 'missing'}, this host's {host}"
    for sub in (f"usr/lib/{host}", "usr/lib/python3/dist-packages"):
        # a few files are not Python 3 on purpose (lib2to3's test data): compile_dir goes on past them
        compileall.compile_dir(rootfs / sub, quiet=2, stripdir=str(rootfs), prependdir="/", workers=0)
    count = sum(1 for _ in (rootfs / "usr/lib").rglob("*.pyc"))
    return f"{count} .pyc files written by {host} (timestamp-checked)"


def _du_mb(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_blocks * 512
    return total // (1 << 20) + 1


if __name__ == "__main__":
    start = time.monotonic()
    image = build()
    print(f"{image.folder} ({time.monotonic() - start:.0f} s; kernel {image.manifest['kernel']})", file=sys.stderr)
