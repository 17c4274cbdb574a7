"""The simulated phone's shell against the real mksh (Android's /system/bin/sh is mksh).

Every line runs twice over the same files: through the phone simulator's shell (tests/sim_sh.py +
tests/adb_sim_shell.py) and through `mksh -c` with its working directory at the simulator's root,
so relative paths name the same files. Standard output and exit status must be equal, and both
must agree on whether anything went to stderr (the wording differs: toybox vs GNU tools).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.adb_sim import AdbSimulator

MKSH = shutil.which("mksh")

LINES = [
    # quoting and globbing
    "echo d/a*.txt",
    "echo 'd/a*.txt'",
    'echo "d/a*.txt"',
    "echo d/*",
    "echo nomatch/* n?match; echo $?",
    "echo d/a?.txt d/[ab]1.txt d/[!a]*",
    "echo \\*; echo d/\\*",
    "echo 'q*'; cat 'q*'; echo q*",
    "x='d/a*'; echo $x; echo \"$x\"; echo '$x'",
    "x='a  b'; for w in $x; do echo \"<$w>\"; done; for w in \"$x\"; do echo \"<$w>\"; done",
    "for f in d/a*.txt; do echo \"$f $(cat \"$f\")\"; done",
    "for f in 'd/a*.txt'; do echo \"[$f]\"; done",
    "ls d/a1.txt 'd/a*.txt'; true",  # exit status differs by design: GNU ls says 2, toybox ls 1
    "ls d/a*.txt",
    "cd d && echo a*",
    "e=; echo x $e y \"$e\" z",
    # parameters
    "x=/p/q/r.s; echo ${x##*/} ${x%.*} ${x#/} ${x%%/*}x ${#x} ${y:-dflt} ${y-d2} ${x:+set}",
    "echo $(echo '  a  b  ') \"$(echo '  a  b  ')\"",
    "echo `echo bq` \"`echo  b  q`\"",
    "sh -c 'echo $0 $1 $#' zero one two",
    "sh -c 'for a in \"$@\"; do echo \"<$a>\"; done' sh a 'b c'",
    "sh -c 'for a in $@; do echo \"<$a>\"; done' sh a 'b c'",
    "set -- p q; shift; echo $1 $#",
    # lists, pipes, status
    "false && echo no; false || echo yes; true && echo y2",
    "! false; echo $?; ! true; echo $?",
    "nosuchcmd; echo $?",
    "./missing-tool; echo $?",
    "./noexec; echo $?",
    "cat nofile; echo $?",
    "cat d/a1.txt d/a2.txt",
    "echo a | cat",
    "cat nofile | cat; echo $?",
    "sh -c 'exit 5'; echo $?",
    "(exit 4); echo $?",
    "exit 3",
    "echo a; exit 7; echo b",
    "if true; echo",
    "while false; do echo x; done; echo $?",
    "for x in 1 2 3; do if [ $x = 2 ]; then continue; fi; echo $x; done",
    "for x in 1 2 3; do [ $x = 3 ] && break; echo $x; done",
    "case d/a1.txt in d/*) echo match;; *) echo no;; esac",
    "case 'x*' in x\\*) echo lit;; *) echo any;; esac",
    "if [ -f d/a1.txt ]; then echo f; fi; [ -d d ] && echo dir; [ -e nofile ] || echo none; [ -x noexec ] || echo nx",
    # redirections
    "echo a; echo b >&2",
    "echo hi > out.txt; cat out.txt; echo more >> out.txt; cat < out.txt",
    "{ echo a; echo b; } > grp.txt; cat grp.txt",
    "cat nofile 2>/dev/null; echo $?",
    "cat nofile 2>&1; echo $?",
    "sh -c 'cat nofile' 2>&1 >/dev/null | cat > err.txt; cat err.txt | cat >/dev/null; echo $?",
    "cat < nofile; echo $?",
    "echo x > nodir/f; echo $?",
    # builtins
    "echo -n abc; echo",
    "echo 'a\\tb'",
    "printf '%s-%s\\n' a b c d",
    "printf '%d|%5s|\\n' 42 ab",
]


@pytest.fixture
def phone(tmp_path, device_outputs):
    sim = AdbSimulator(tmp_path / "phone", device_outputs)
    root = sim.root
    (root / "d").mkdir()
    for name, text in (("a1.txt", "one\n"), ("a2.txt", "two\n"), ("b.txt", "bee\n"), (".hidden", "h\n")):
        (root / "d" / name).write_text(text)
    (root / "q*").write_text("literal star\n")
    (root / "qa").write_text("qa\n")
    (root / "noexec").write_text("#!/bin/sh\necho ran\n")
    yield sim
    sim.close()


def _sim(sim: AdbSimulator, line: str) -> tuple[int, bytes, bytes]:
    out, err = bytearray(), bytearray()
    code = sim.run_command(line, out.extend, err.extend)
    return code, bytes(out), bytes(err)


def _mksh(root: Path, line: str) -> tuple[int, bytes, bytes]:
    res = subprocess.run([MKSH, "-c", line], cwd=root, capture_output=True, timeout=20,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/"})
    return res.returncode, res.stdout, res.stderr


def _reset(root: Path) -> None:
    for name in ("out.txt", "grp.txt", "err.txt"):
        (root / name).unlink(missing_ok=True)


@pytest.mark.skipif(MKSH is None, reason="needs mksh (apt-get install mksh): the reference for Android's sh")
@pytest.mark.parametrize("line", LINES)
def test_simulated_shell_matches_mksh(phone, line):
    root = phone.root
    _reset(root)
    want = _mksh(root, line)
    _reset(root)
    got = _sim(phone, line)
    assert (got[0], got[1].decode()) == (want[0], want[1].decode()), f"stderr sim={got[2]!r} mksh={want[2]!r}"
    assert bool(got[2]) == bool(want[2]), f"stderr sim={got[2]!r} mksh={want[2]!r}"


def test_quoted_glob_reaches_the_phone_unexpanded(phone):
    """The issue's bug: every argument quoted, so the phone's sh never expands the `*`."""
    code, out, err = _sim(phone, "ls '/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq'")
    assert (code, out) == (1, b"")
    assert b"cpu*" in err
    code, out, _ = _sim(phone, "ls /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq")
    assert code == 0 and out.decode().split() == [
        f"/sys/devices/system/cpu/cpu{i}/cpufreq/scaling_cur_freq" for i in range(4)]


def test_unsupported_syntax_is_loud(phone):
    code, out, err = _sim(phone, "echo $((1 + 2))")
    assert code == 2 and out == b"" and b"does not support" in err
