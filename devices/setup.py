"""`harness devices setup`: make a board ready for the runner, or say exactly what to install where.

Steps on an ssh board: python3 must run (3.9+); WORKDIR/venv is created with
--system-site-packages (so a Jetson's apt-installed TensorRT/TensorFlow stay visible) and, where the board's
Python ships pip as a wheel (ensurepip's own, or Debian's /usr/share/python-wheels), without pip inside: pip
runs from that wheel, as ensurepip itself runs it, instead of being installed and compiled into the venv
(on an emulated arm64 board 37 vs 85 CPU-s for the venv and the LiteRT install; stop 40's note); numpy and
a LiteRT interpreter are installed with pip unless already importable, from WORKDIR/wheels
when that folder exists (for boards without internet; the device's `wheels:` folder on this host
is copied there first); the runner is pushed; the facts are
returned. Nothing is installed with sudo: what needs root is printed as a command to run.
"""
from __future__ import annotations

from pathlib import Path

from devices.rpi_target import SshRunnerTarget
from devices.target import Target
from devices.transport import Transport
from errors import DeviceError

MIN_PYTHON = (3, 9)
PIP_NAMES = {"numpy": "numpy", "litert": "ai-edge-litert"}
# What pip prints when the board has no route to the package index.
OFFLINE_MARKERS = ("Network is unreachable", "Temporary failure in name resolution",
                   "Failed to establish a new connection", "Name or service not known",
                   "No matching distribution found", "Could not find a version",
                   "Connection refused", "Read timed out", "ConnectTimeoutError")
# The board's Python: its version, machine, and the pip wheel its ensurepip installs from ('-' when none).
PROBE_SCRIPT = (
    "import glob, os, platform, sys\n"
    "dirs = ['/usr/share/python-wheels']\n"
    "try:\n    import ensurepip\n    dirs.insert(0, os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))\n"
    "except ImportError:\n    pass\n"
    "wheels = [w for d in dirs for w in sorted(glob.glob(os.path.join(d, 'pip-*.whl')))]\n"
    "print('%d.%d.%d' % sys.version_info[:3], platform.machine(), wheels[0] if wheels else '-')\n"
)
CHECK_SCRIPT = (
    "missing = []\n"
    "try:\n    import numpy\nexcept ImportError:\n    missing.append('numpy')\n"
    "for mod in ('ai_edge_litert.interpreter', 'tflite_runtime.interpreter'):\n"
    "    try:\n        __import__(mod)\n        break\n    except ImportError:\n        pass\n"
    "else:\n    missing.append('litert')\n"
    "print(' '.join(missing) or 'ok')\n"
)


class SetupError(DeviceError):
    """The board cannot be made ready without the user: the message says what to run where."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def wheel_platform(machine: str) -> str | None:
    """pip's --platform flags for a board: pip takes the tags named and no older ones, and ai-edge-litert
    2.x is manylinux_2_27 while 1.x (and most pure-C deps) are manylinux2014."""
    arch = {"aarch64": "aarch64", "arm64": "aarch64", "x86_64": "x86_64"}.get(machine)
    return f"--platform manylinux_2_27_{arch} --platform manylinux2014_{arch}" if arch else None


def offline_advice(device: str, address: str, workdir: str, packages: list[str], version: str, machine: str,
                   pip_output: str) -> str:
    """What to run on a machine with internet when the board's pip cannot reach the index."""
    marker = next((line.strip() for line in pip_output.splitlines() if any(m in line for m in OFFLINE_MARKERS)), None)
    why = marker[:200] if marker else _last_line(pip_output)
    plat = wheel_platform(machine)
    pyver = ".".join(version.split(".")[:2])
    if plat is None:
        return (f"pip on the board could not install {', '.join(packages)} ({why}); {machine} has no "
                f"ai-edge-litert wheels: use a 64-bit (aarch64) OS on the board")
    return (f"pip on the board could not install {', '.join(packages)} ({why}). On a machine with internet run "
            f"`pip download --only-binary=:all: {plat} --python-version {pyver} -d wheels "
            f"{' '.join(packages)}`, then either set `wheels: PATH-OF-THAT-FOLDER` on {device} in devices.yaml "
            f"or copy the folder to {address}:{workdir}/wheels, and run `harness devices setup` again (it "
            f"installs from there)")


def _push_wheels(name: str, transport: Transport, folder: Path, remote: str) -> int:
    """The host's wheels folder (`wheels:`) onto the board, each file once (sha256): returns how many moved."""
    made = transport.run(["mkdir", "-p", remote], timeout_s=30)
    if not made.ok:
        raise SetupError(name, f"cannot create {remote}: {_last_line(made.stderr)}")
    return sum(bool(transport.push_if_changed(whl, f"{remote}/{whl.name}")) for whl in sorted(folder.glob("*.whl")))


def _missing(target: SshRunnerTarget, python: str) -> list[str]:
    res = target.transport.run([python, "-c", CHECK_SCRIPT], timeout_s=180)
    if not res.ok:
        raise SetupError(target.name, f"{python} cannot run a check script: {_last_line(res.stderr)}")
    words = res.stdout.split()
    return [] if words == ["ok"] else words


def setup_target(target: Target) -> dict[str, object]:
    """Prepare one target and return its facts with a `setup` list of what was done."""
    if not isinstance(target, SshRunnerTarget):
        target.prepare()
        facts: dict[str, object] = target.facts()
        facts["setup"] = ["nothing to install: this target runs the runner with the interpreter it has"]
        return facts
    t, cfg, name = target.transport, target.config, target.name
    steps: list[str] = []
    expand = getattr(t, "expand", lambda p: p)
    workdir = expand(cfg.workdir).rstrip("/")
    address = f"{cfg.user}@{cfg.host}"
    probe = t.run([cfg.python, "-c", PROBE_SCRIPT], timeout_s=60)
    if not probe.ok:
        raise SetupError(name, f"{cfg.python} does not run on the board ({_last_line(probe.stderr)}): install it "
                               f"(sudo apt install python3 python3-venv) or set python: to its path")
    version, machine, found = (probe.stdout.strip().split(None, 2) + ["-"])[:3]
    pip_wheel = None if found == "-" else found
    if tuple(int(x) for x in version.split(".")[:2]) < MIN_PYTHON:
        raise SetupError(name, f"python {version} on the board is older than "
                               f"{'.'.join(map(str, MIN_PYTHON))}: install a newer python3")
    steps.append(f"python {version} ({machine})")
    made = t.run(["mkdir", "-p", f"{workdir}/models"], timeout_s=30)
    if not made.ok:
        raise SetupError(name, f"cannot create {workdir}: {_last_line(made.stderr)}")
    python = cfg.python
    if cfg.venv:
        venv = f"{workdir}/venv"
        python = f"{venv}/bin/python"
        if t.run(["test", "-x", python], timeout_s=30).ok:
            steps.append(f"venv {venv} already there")
        else:
            without_pip = ["--without-pip"] if pip_wheel else []
            res = t.run([cfg.python, "-m", "venv", *without_pip, "--system-site-packages", venv], timeout_s=600)
            if not res.ok:
                raise SetupError(name, f"could not create {venv} ({_last_line(res.stdout + res.stderr)}); on "
                                       f"Debian, Ubuntu or Raspberry Pi OS run `sudo apt install python3-venv` there")
            steps.append(f"venv created at {venv}" + (f" without pip (pip runs from {pip_wheel}; "
                                                      f"`{python} -m ensurepip` adds one)" if pip_wheel else ""))
    missing = _missing(target, python)
    if missing:
        packages = [PIP_NAMES[m] for m in missing]
        # --no-compile: numpy and LiteRT ship ~660 modules and the runner imports about a tenth; Python compiles
        # those at their first import (the facts run below), not all of them here (an emulated arm64 board's
        # setup: 73.6 vs 88.3 s; stop 38's note).
        # In the venv, pip from the Python's own wheel (whether or not the venv has a pip); outside one, the
        # board's pip, as the user set it up.
        pip_main = [f"{pip_wheel}/pip"] if cfg.venv and pip_wheel else ["-m", "pip"]
        pip = [python, *pip_main, "install", "--no-compile", "--disable-pip-version-check", "--retries", "1",
               "--timeout", "15"]
        wheels = f"{workdir}/wheels"
        if cfg.wheels:
            copied = _push_wheels(name, t, Path(cfg.wheels).expanduser(), wheels)
            steps.append(f"{copied} wheel(s) copied from {cfg.wheels} to {wheels}")
        if t.run(["test", "-d", wheels], timeout_s=30).ok:
            pip += ["--no-index", "--find-links", wheels]
        res = t.run([*pip, *packages], timeout_s=1800)
        if _missing(target, python):
            raise SetupError(name, offline_advice(name, address, workdir, packages, version, machine,
                                                  res.stdout + res.stderr))
        steps.append(f"installed {', '.join(packages)}")
    else:
        steps.append("numpy and a LiteRT interpreter already importable")
    target._resolved = False  # pick the venv's python from now on
    facts = target.facts()  # pushes the runner and runs it once (--facts)
    steps.append(f"runner pushed to {target._runner_remote}")
    facts["setup"] = steps
    return facts
