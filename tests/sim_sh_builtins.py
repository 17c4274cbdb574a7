"""The builtins of tests/sim_sh.py's shell, as mksh has them (checked against `mksh -c` in
tests/test_sim_sh.py)."""
from __future__ import annotations

import re

from tests.sim_sh_syntax import IO, Parser, ShExit, Unsupported, _Break, lex


class Builtins:
    """Mixed into Shell: `b_NAME(argv, io)` runs the builtin NAME."""

    def b_colon(self, argv: list[str], io: IO) -> int:
        return 0

    b_true = b_colon

    def b_false(self, argv: list[str], io: IO) -> int:
        return 1

    def b_exit(self, argv: list[str], io: IO) -> int:
        raise ShExit(int(argv[1]) if len(argv) > 1 and argv[1].lstrip("-").isdigit() else self.status)

    def b_break(self, argv: list[str], io: IO) -> int:
        raise _Break(argv[0], int(argv[1]) if len(argv) > 1 else 1)

    b_continue = b_break

    def b_echo(self, argv: list[str], io: IO) -> int:
        """mksh's echo: -n, -e, -E; backslash escapes are interpreted by default."""
        args, newline, escapes = argv[1:], True, True
        while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
            flag = args.pop(0)
            newline = newline and "n" not in flag
            escapes = flag != "-E" and (escapes or "e" in flag)
        text = " ".join(args)
        if escapes:
            if "\\c" in text:
                text, newline = text.split("\\c", 1)[0], False
            text = _escapes(text)
        io.out((text + ("\n" if newline else "")).encode())
        return 0

    def b_printf(self, argv: list[str], io: IO) -> int:
        if len(argv) < 2:
            io.err(b"printf: usage: printf format [arguments]\n")
            return 1
        fmt, args = _escapes(argv[1]), argv[2:]
        out = []
        while True:
            used = 0

            def sub(m: re.Match, args: list[str] = args) -> str:
                nonlocal used
                if m.group(0) == "%%":
                    return "%"
                val = args[used] if used < len(args) else ""
                used += 1
                spec = m.group(0)
                if spec[-1] in "di":
                    return (spec[:-1] + "d") % int(val or 0)
                return (spec[:-1] + "s") % val

            out.append(re.sub(r"%%|%[-0-9.]*[sdi]", sub, fmt))
            args = args[used:]
            if not args or not used:
                break
        io.out("".join(out).encode())
        return 0

    def b_cd(self, argv: list[str], io: IO) -> int:
        target = self.abs_path(argv[1] if len(argv) > 1 else self.vars.get("HOME", "/"))
        if self.listdir(target) is None:
            io.err(f"{self.arg0}: cd: {target}: No such file or directory\n".encode())
            return 2
        self.cwd = target
        return 0

    def b_export(self, argv: list[str], io: IO) -> int:
        for a in argv[1:]:
            if "=" in a:
                k, v = a.split("=", 1)
                self.vars[k] = v
        return 0

    def b_unset(self, argv: list[str], io: IO) -> int:
        for a in argv[1:]:
            self.vars.pop(a, None)
        return 0

    def b_set(self, argv: list[str], io: IO) -> int:
        if len(argv) > 1 and argv[1] == "--":
            self.args = argv[2:]
            return 0
        raise Unsupported(f"set {' '.join(argv[1:2])}")

    def b_shift(self, argv: list[str], io: IO) -> int:
        n = int(argv[1]) if len(argv) > 1 else 1
        if n > len(self.args):
            return 1
        self.args = self.args[n:]
        return 0

    def b_eval(self, argv: list[str], io: IO) -> int:
        saved, self.io = self.io, io
        try:
            tree = Parser(lex(" ".join(argv[1:]))).program()
            return self.run_list(tree, io)
        finally:
            self.io = saved

    def b_test(self, argv: list[str], io: IO) -> int:
        args = argv[1:]
        if argv[0] == "[":
            if not args or args[-1] != "]":
                io.err(f"{self.arg0}: [: missing ]\n".encode())
                return 2
            args = args[:-1]
        negate = False
        if args and args[0] == "!":
            negate, args = True, args[1:]
        if not args:
            ok = False
        elif len(args) == 1:
            ok = args[0] != ""
        elif len(args) == 2 and args[0] in ("-n", "-z"):
            ok = (args[1] != "") == (args[0] == "-n")
        elif len(args) == 2 and args[0] in ("-e", "-f", "-d", "-r", "-w", "-x", "-s"):
            ok = self.file_test(args[0], self.abs_path(args[1]))
        elif len(args) == 3 and args[1] in ("=", "!="):
            ok = (args[0] == args[2]) == (args[1] == "=")
        elif len(args) == 3 and args[1] in ("-eq", "-ne", "-lt", "-gt", "-le", "-ge"):
            try:
                a, b = int(args[0]), int(args[2])
            except ValueError:
                io.err(f"{self.arg0}: {argv[0]}: bad number\n".encode())
                return 2
            ok = {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-gt": a > b, "-le": a <= b, "-ge": a >= b}[args[1]]
        else:
            raise Unsupported(f"test {' '.join(args)[:40]}")
        return 0 if ok != negate else 1



def _escapes(text: str) -> str:
    table = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f"}
    return re.sub(r"\\(0[0-7]{0,3}|.)", lambda m: chr(int(m.group(1), 8)) if m.group(1)[0] == "0"
                  else table.get(m.group(1), "\\" + m.group(1)), text)
