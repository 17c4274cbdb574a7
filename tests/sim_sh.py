"""A POSIX shell language for simulators: the quoting, expansion and control rules of Android's
/system/bin/sh (mksh), with commands supplied by a subclass over a simulated file system.

Behaviours checked against the real programs on this host (mksh 59c from Debian's `mksh` package,
dash, bash; tests/test_sim_sh.py runs the same lines through real mksh and this shell):
- single quotes keep everything literal; double quotes keep globs literal but expand `$`, `$(..)`,
  backquotes; a backslash outside quotes makes the next character literal;
- unquoted expansions are split on IFS whitespace; an unquoted, unexpanded-to-nothing word drops;
- unquoted `*`, `?`, `[..]` expand to the sorted matching paths; with no match the word stays as
  written (mksh, dash and bash without nullglob all do this); a quoted `*` is never expanded;
- `;`, `&&`, `||`, `|` (status of the last command, no pipefail), `!`, `&`, `( )`, `{ }`, `for`,
  `if`, `while`/`until`, `case`, `break`/`continue`, redirections `<`, `>`, `>>`, `N>`, `N>&M`,
  /dev/null; `$?`, `$#`, `$@`, `"$@"`, `$*`, `$0..$9`, `${x}`, `${x:-w}`, `${x-w}`, `${#x}`,
  `${x#p}`, `${x##p}`, `${x%p}`, `${x%%p}`;
- exit codes: 127 and "NAME: inaccessible or not found" for a missing command (mksh's words),
  126 for a file that cannot be executed, 1 for a syntax error in `sh -c` (mksh; dash and bash say 2),
  `exit N`.
Not supported (reported on stderr with status 2, never silently run): here-documents, `$((..))`,
functions. Pipelines run their commands one after the other (the simulated commands are not
streams), which gives the same output and status for the commands a harness sends.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Callable

Sink = Callable[[bytes], None]
_OPS = ("&&", "||", ";;", ">>", ">&", "<&", "<<", ">|", ";", "&", "|", "<", ">", "(", ")", "\n")
_META = set(" \t\n;&|<>()")
_RESERVED = {"if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case", "esac",
             "{", "}", "!"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ShSyntaxError(Exception):
    """A line the shell cannot parse (mksh: `syntax error: ...`, status 1 under -c)."""


class Unsupported(Exception):
    """A construct this simulation does not implement: loud, never approximated."""


class ShExit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    def __init__(self, kind: str, n: int) -> None:
        self.kind, self.n = kind, n


@dataclass
class Tok:
    kind: str  # word, op, io (a redirection's fd number)
    text: str


@dataclass
class IO:
    stdin: bytes | None
    out: Sink
    err: Sink
    files: list[tuple[str, bytearray, bool]] = field(default_factory=list)  # (path, data, append)


# ---- lexing -----------------------------------------------------------------------------------

def _skip_quoted(src: str, i: int) -> int:
    """Index just past the quoted/expansion construct starting at src[i]."""
    c = src[i]
    if c == "'":
        j = src.find("'", i + 1)
        if j < 0:
            raise ShSyntaxError("unterminated quoted string")
        return j + 1
    if c == "\\":
        return min(i + 2, len(src))
    if c == '"':
        j = i + 1
        while j < len(src) and src[j] != '"':
            j = _skip_quoted(src, j) if src[j] in "\\$`" else j + 1
        if j >= len(src):
            raise ShSyntaxError("unterminated quoted string")
        return j + 1
    if c == "`":
        j = i + 1
        while j < len(src) and src[j] != "`":
            j += 2 if src[j] == "\\" else 1
        if j >= len(src):
            raise ShSyntaxError("unterminated `")
        return j + 1
    if c == "$" and src.startswith("$(", i):
        depth, j = 1, i + 2
        while j < len(src) and depth:
            if src[j] in "'\"\\`" or src.startswith("$(", j) or src.startswith("${", j):
                j = _skip_quoted(src, j)
                continue
            depth += {"(": 1, ")": -1}.get(src[j], 0)
            j += 1
        if depth:
            raise ShSyntaxError("unterminated $(")
        return j
    if c == "$" and src.startswith("${", i):
        j = i + 2
        while j < len(src) and src[j] != "}":
            j = _skip_quoted(src, j) if src[j] in "'\"\\$`" else j + 1
        if j >= len(src):
            raise ShSyntaxError("unterminated ${")
        return j + 1
    return i + 1


def lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(src):
        c = src[i]
        if c in " \t":
            i += 1
            continue
        if c == "\\" and src.startswith("\\\n", i):
            i += 2
            continue
        if c == "#":
            while i < len(src) and src[i] != "\n":
                i += 1
            continue
        op = next((o for o in _OPS if src.startswith(o, i)), None)
        if op:
            if op == "<<":
                raise Unsupported("here-document")
            toks.append(Tok("op", op))
            i += len(op)
            continue
        j = i
        while j < len(src) and src[j] not in _META:
            j = _skip_quoted(src, j) if src[j] in "'\"\\`$" else j + 1
        word = src[i:j]
        toks.append(Tok("io" if word.isdigit() and j < len(src) and src[j] in "<>" else "word", word))
        i = j
    return toks


# ---- parsing ----------------------------------------------------------------------------------

class Parser:
    """Recursive descent over the POSIX grammar's subset listed in the module docstring."""

    def __init__(self, toks: list[Tok]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def at_word(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "word" and t.text in words

    def at_op(self, *ops: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "op" and t.text in ops

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ShSyntaxError("unexpected end of input")
        self.i += 1
        return t

    def expect_word(self, word: str) -> None:
        t = self.peek()
        if t is None or t.kind != "word" or t.text != word:
            raise ShSyntaxError(f"expected '{word}', got '{t.text if t else 'end of input'}'")
        self.i += 1

    def newlines(self) -> None:
        while self.at_op("\n"):
            self.i += 1

    def program(self) -> list:
        body = self.compound_list(())
        if self.peek() is not None:
            raise ShSyntaxError(f"unexpected '{self.peek().text}'")  # type: ignore[union-attr]
        return body

    def compound_list(self, enders: tuple[str, ...]) -> list:
        """[(and_or, background)] until a reserved word in `enders` (or ')' / ';;' / end)."""
        items: list = []
        self.newlines()
        while self.peek() is not None and not self.at_word(*enders) and not self.at_op(")", ";;"):
            node = self.and_or()
            bg = False
            if self.at_op(";", "&", "\n"):
                bg = self.take().text == "&"
            elif self.peek() is not None and not self.at_word(*enders) and not self.at_op(")", ";;"):
                raise ShSyntaxError(f"unexpected '{self.peek().text}'")  # type: ignore[union-attr]
            items.append((node, bg))
            self.newlines()
        return items

    def and_or(self) -> tuple:
        parts = [("", self.pipeline())]
        while self.at_op("&&", "||"):
            op = self.take().text
            self.newlines()
            parts.append((op, self.pipeline()))
        return ("andor", parts)

    def pipeline(self) -> tuple:
        negate = False
        if self.at_word("!"):
            self.i += 1
            negate = True
        cmds = [self.command()]
        while self.at_op("|"):
            self.i += 1
            self.newlines()
            cmds.append(self.command())
        return ("pipeline", cmds, negate)

    def command(self) -> tuple:
        t = self.peek()
        if t is None:
            raise ShSyntaxError("unexpected end of input")
        if t.kind == "op" and t.text == "(":
            self.i += 1
            body = self.compound_list(())
            if not self.at_op(")"):
                raise ShSyntaxError("unmatched '('")
            self.i += 1
            return self.redirected(("subshell", body))
        if t.kind == "word" and t.text in ("{", "if", "for", "while", "until", "case"):
            return self.redirected(getattr(self, "c_" + {"{": "group"}.get(t.text, t.text))())
        if t.kind == "word" and t.text in _RESERVED - {"!"}:
            raise ShSyntaxError(f"unexpected '{t.text}'")
        return self.simple()

    def redirected(self, node: tuple) -> tuple:
        redirs = []
        while self.peek() is not None and (self.peek().kind == "io" or self.at_op("<", ">", ">>", ">&", "<&", ">|")):
            redirs.append(self.redirect())
        return ("redir", node, redirs) if redirs else node

    def redirect(self) -> tuple:
        fd = None
        if self.peek().kind == "io":  # type: ignore[union-attr]
            fd = int(self.take().text)
        op = self.take()
        if op.kind != "op" or op.text not in ("<", ">", ">>", ">&", "<&", ">|"):
            raise ShSyntaxError(f"unexpected '{op.text}' after a file descriptor")
        target = self.take()
        if target.kind != "word":
            raise ShSyntaxError(f"unexpected '{target.text}' after '{op.text}'")
        return (fd if fd is not None else (0 if op.text in ("<", "<&") else 1), op.text, target.text)

    def simple(self) -> tuple:
        assigns, words, redirs = [], [], []
        while True:
            t = self.peek()
            if t is None:
                break
            if t.kind == "io" or (t.kind == "op" and t.text in ("<", ">", ">>", ">&", "<&", ">|")):
                redirs.append(self.redirect())
                continue
            if t.kind != "word":
                break
            if not words and "=" in t.text and _NAME.fullmatch(t.text.split("=", 1)[0]):
                assigns.append(tuple(t.text.split("=", 1)))
            else:
                words.append(t.text)
            self.i += 1
        if not (assigns or words or redirs):
            t = self.peek()
            raise ShSyntaxError(f"unexpected '{t.text if t else 'end of input'}'")
        return ("simple", assigns, words, redirs)

    def c_group(self) -> tuple:
        self.expect_word("{")
        body = self.compound_list(("}",))
        self.expect_word("}")
        return ("group", body)

    def c_if(self) -> tuple:
        self.expect_word("if")
        arms = []
        cond = self.compound_list(("then",))
        self.expect_word("then")
        arms.append((cond, self.compound_list(("elif", "else", "fi"))))
        other = None
        while True:
            if self.at_word("elif"):
                self.i += 1
                cond = self.compound_list(("then",))
                self.expect_word("then")
                arms.append((cond, self.compound_list(("elif", "else", "fi"))))
            elif self.at_word("else"):
                self.i += 1
                other = self.compound_list(("fi",))
            else:
                break
        self.expect_word("fi")
        return ("if", arms, other)

    def c_for(self) -> tuple:
        self.expect_word("for")
        name = self.take()
        if name.kind != "word" or not _NAME.fullmatch(name.text):
            raise ShSyntaxError(f"for: bad variable name '{name.text}'")
        words = None
        self.newlines()
        if self.at_word("in"):
            self.i += 1
            words = []
            while self.peek() is not None and self.peek().kind == "word":  # type: ignore[union-attr]
                words.append(self.take().text)
        if self.at_op(";"):
            self.i += 1
        self.newlines()
        self.expect_word("do")
        body = self.compound_list(("done",))
        self.expect_word("done")
        return ("for", name.text, words, body)

    def c_while(self, until: bool = False) -> tuple:
        self.expect_word("until" if until else "while")
        cond = self.compound_list(("do",))
        self.expect_word("do")
        body = self.compound_list(("done",))
        self.expect_word("done")
        return ("while", cond, body, until)

    def c_until(self) -> tuple:
        return self.c_while(until=True)

    def c_case(self) -> tuple:
        self.expect_word("case")
        word = self.take().text
        self.newlines()
        self.expect_word("in")
        self.newlines()
        arms = []
        while not self.at_word("esac"):
            if self.at_op("("):
                self.i += 1
            pats = [self.take().text]
            while self.at_op("|"):
                self.i += 1
                pats.append(self.take().text)
            if not self.at_op(")"):
                raise ShSyntaxError("case: expected ')'")
            self.i += 1
            body = self.compound_list(("esac",))
            arms.append((pats, body))
            if self.at_op(";;"):
                self.i += 1
                self.newlines()
            elif not self.at_word("esac"):
                raise ShSyntaxError("case: expected ';;'")
        self.expect_word("esac")
        return ("case", word, arms)


# ---- patterns ---------------------------------------------------------------------------------

def pattern_regex(chunks: list[tuple[str, bool]]) -> str:
    """A shell pattern (chunks of text, quoted or not) as a regex; quoted characters are literal."""
    out, i = [], 0
    flat = [(ch, q) for text, q in chunks for ch in text]
    while i < len(flat):
        ch, quoted = flat[i]
        if quoted:
            out.append(re.escape(ch))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i + 1
            if j < len(flat) and flat[j][0] in "!^":
                j += 1
            if j < len(flat) and flat[j][0] == "]":
                j += 1
            while j < len(flat) and flat[j][0] != "]":
                j += 1
            if j >= len(flat):
                out.append(re.escape("["))
            else:
                body = "".join(c for c, _ in flat[i + 1:j])
                if body[:1] in "!^":
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def has_glob(chunks: list[tuple[str, bool]]) -> bool:
    return any(not q and any(c in text for c in "*?[") for text, q in chunks)


# ---- the shell --------------------------------------------------------------------------------

class Shell:
    """Runs a command line. Subclasses give `command()` (external commands) and the file system hooks."""

    name = "sh"  # how error messages name the shell ($0)

    def __init__(self, out: Sink, err: Sink, args: list[str] | None = None) -> None:
        self.io = IO(None, out, err)
        self.vars: dict[str, str] = {"IFS": " \t\n", "PATH": "/system/bin:/system/xbin", "HOME": "/"}
        self.args = list(args or [])
        self.arg0 = self.name
        self.status = 0
        self.cwd = "/"

    # -- hooks ----------------------------------------------------------------------------------
    def command(self, argv: list[str], io: IO) -> int | None:
        """Run an external command; None when there is no such command (the shell answers 127)."""
        return None

    def listdir(self, path: str) -> list[str] | None:
        """Names in a directory of the simulated file system, None when it is not a readable directory."""
        return None

    def read_file(self, path: str) -> bytes | None:
        return None

    def write_file(self, path: str, data: bytes, append: bool) -> bool:
        return False

    def file_test(self, op: str, path: str) -> bool:
        """`test` unary file operators: -e -f -d -r -w -x -s."""
        return False

    def subshell(self) -> "Shell":
        sub = type(self).__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub.vars = dict(self.vars)
        sub.args = list(self.args)
        return sub

    # -- entry ----------------------------------------------------------------------------------
    def run(self, src: str) -> int:
        try:
            tree = Parser(lex(src)).program()
        except ShSyntaxError as exc:
            self.io.err(f"{self.arg0}: syntax error: {exc}\n".encode())
            return 1
        except Unsupported as exc:
            self.io.err(f"{self.arg0}: simulator does not support {exc}\n".encode())
            return 2
        try:
            return self.run_list(tree, self.io)
        except ShExit as e:
            return e.code & 0xFF
        except Unsupported as exc:
            self.io.err(f"{self.arg0}: simulator does not support {exc}\n".encode())
            return 2
        except _Break:
            return self.status

    def abs_path(self, path: str) -> str:
        if path.startswith("/"):
            return path
        return (self.cwd.rstrip("/") + "/" + path) if path else self.cwd

    # -- execution ------------------------------------------------------------------------------
    def run_list(self, items: list, io: IO) -> int:
        for node, bg in items:
            if bg:
                sub = self.subshell()
                threading.Thread(target=lambda: _quiet(sub.run_node, node, io), daemon=True).start()
                self.status = 0
                self.vars["!"] = "4242"
            else:
                self.status = self.run_node(node, io)
        return self.status

    def run_node(self, node: tuple, io: IO) -> int:
        kind = node[0]
        if kind == "andor":
            status = 0
            for op, pipe in node[1]:
                if (op == "&&" and status != 0) or (op == "||" and status == 0):
                    continue
                status = self.status = self.run_node(pipe, io)
            return status
        if kind == "pipeline":
            cmds, negate = node[1], node[2]
            stdin = io.stdin
            status = 0
            for k, cmd in enumerate(cmds):
                last = k == len(cmds) - 1
                buf = bytearray()
                sub_io = IO(stdin, io.out if last else buf.extend, io.err)
                status = self.run_node(cmd, sub_io) if last else self.subshell().run_node(cmd, sub_io)
                stdin = bytes(buf)
            return (0 if status else 1) if negate else status
        if kind == "redir":
            sub_io = self.apply_redirs(node[2], io)
            if sub_io is None:
                return 1
            try:
                return self.run_node(node[1], sub_io)
            finally:
                self.flush(sub_io)
        if kind == "simple":
            return self.run_simple(node, io)
        if kind == "group":
            return self.run_list(node[1], io)
        if kind == "subshell":
            sub = self.subshell()
            try:
                return sub.run_list(node[1], io)
            except ShExit as e:
                return e.code
        if kind == "if":
            for cond, body in node[1]:
                if self.run_list(cond, io) == 0:
                    return self.run_list(body, io)
            return self.run_list(node[2], io) if node[2] is not None else 0
        if kind == "for":
            words = self.expand_words(node[2]) if node[2] is not None else list(self.args)
            status = 0
            for w in words:
                self.vars[node[1]] = w
                try:
                    status = self.run_list(node[3], io)
                except _Break as b:
                    if b.n > 1:
                        raise _Break(b.kind, b.n - 1) from None
                    if b.kind == "break":
                        break
            return status
        if kind == "while":
            status = 0
            while (self.run_list(node[1], io) == 0) != node[3]:
                try:
                    status = self.run_list(node[2], io)
                except _Break as b:
                    if b.n > 1:
                        raise _Break(b.kind, b.n - 1) from None
                    if b.kind == "break":
                        break
            return status
        if kind == "case":
            word = self.expand_string(node[1])
            for pats, body in node[2]:
                if any(re.fullmatch(pattern_regex(self.expand_chunks(p)), word, re.S) for p in pats):
                    return self.run_list(body, io)
            return 0
        raise Unsupported(kind)

    def apply_redirs(self, redirs: list, io: IO) -> IO | None:
        new = IO(io.stdin, io.out, io.err)
        fds: dict[int, object] = {0: io.stdin, 1: io.out, 2: io.err}
        for fd, op, target_raw in redirs:
            target = self.expand_string(target_raw)
            if op in (">&", "<&"):
                if target == "-":
                    fds[fd] = (lambda _b: None)
                elif target.isdigit() and int(target) in fds:
                    fds[fd] = fds[int(target)]
                else:
                    io.err(f"{self.arg0}: {target}: bad file descriptor\n".encode())
                    return None
            elif op == "<":
                data = b"" if target == "/dev/null" else self.read_file(self.abs_path(target))
                if data is None:
                    io.err(f"{self.arg0}: can't open {target}: No such file or directory\n".encode())
                    return None
                fds[fd] = data
            else:
                if target == "/dev/null":
                    fds[fd] = (lambda _b: None)
                    continue
                path = self.abs_path(target)
                if not self.write_file(path, b"", op == ">>"):
                    io.err(f"{self.arg0}: can't create {target}: No such file or directory\n".encode())
                    return None
                buf = bytearray()
                new.files.append((path, buf, True))
                fds[fd] = buf.extend
        new.stdin = fds[0] if isinstance(fds[0], (bytes, type(None))) else io.stdin  # type: ignore[assignment]
        new.out, new.err = fds[1], fds[2]  # type: ignore[assignment]
        return new

    def flush(self, io: IO) -> None:
        for path, data, append in io.files:
            self.write_file(path, bytes(data), append)

    def run_simple(self, node: tuple, io: IO) -> int:
        _, assigns, words, redirs = node
        argv = self.expand_words(words)
        values = [(name, self.expand_string(value)) for name, value in assigns]
        sub_io = self.apply_redirs(redirs, io) if redirs else io
        if sub_io is None:
            return 1
        try:
            if not argv:
                self.vars.update(values)
                return self.status if any("$(" in v or "`" in v for _, v in assigns) else 0
            saved = {n: self.vars.get(n) for n, _ in values}
            self.vars.update(values)
            try:
                return self.execute(argv, sub_io)
            finally:
                for n, old in saved.items():
                    if old is None:
                        self.vars.pop(n, None)
                    else:
                        self.vars[n] = old
        finally:
            if sub_io is not io:
                self.flush(sub_io)

    def execute(self, argv: list[str], io: IO) -> int:
        name = argv[0]
        builtin = None
        if name in (":", "[") or _NAME.fullmatch(name):
            builtin = getattr(self, "b_" + {":": "colon", "[": "test"}.get(name, name), None)
        if builtin is not None:
            return builtin(argv, io)
        code = self.command(argv, io)
        if code is None:
            io.err(f"{self.arg0}: {name}: inaccessible or not found\n".encode())
            return 127
        return code

    # -- builtins (mksh's; checked against `mksh -c`) ------------------------------------------------
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

            def sub(m: re.Match) -> str:
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

    # -- expansion ------------------------------------------------------------------------------
    def expand_words(self, words: list[str]) -> list[str]:
        out: list[str] = []
        for w in words:
            for chunks in self.expand_fields(w):
                if has_glob(chunks):
                    found = self.glob(chunks)
                    if found:
                        out.extend(found)
                        continue
                out.append("".join(t for t, _ in chunks))
        return out

    def expand_string(self, word: str) -> str:
        """Expansion without splitting or globbing (redirection targets, assignments, case words)."""
        return "".join(t for t, _ in self.expand_chunks(word))

    def expand_chunks(self, word: str) -> list[tuple[str, bool]]:
        fields = self.expand_fields(word, split=False)
        return [c for f in fields for c in f]

    def expand_fields(self, word: str, split: bool = True) -> list[list[tuple[str, bool]]]:
        """A word -> fields of (text, quoted) chunks, after quote removal and parameter/command expansion."""
        fields: list[list[tuple[str, bool]]] = [[]]
        keep = [False]  # whether each field must stay even if empty (it had quotes)

        def add(text: str, quoted: bool) -> None:
            fields[-1].append((text, quoted))
            if quoted:
                keep[-1] = True

        def add_unquoted(text: str) -> None:
            if not split:
                add(text, False)
                return
            ifs = self.vars.get("IFS", " \t\n")
            pieces = re.split("[" + re.escape(ifs) + "]+", text) if ifs else [text]
            for k, piece in enumerate(pieces):
                if k:
                    fields.append([])
                    keep.append(False)
                add(piece, False)

        i = 0
        while i < len(word):
            c = word[i]
            if c == "'":
                j = word.index("'", i + 1)
                add(word[i + 1:j], True)
                i = j + 1
            elif c == "\\":
                add(word[i + 1:i + 2], True)
                i += 2
            elif c == '"' and word[i:i + 4] == '"$@"' and not self.args:
                i += 4  # "$@" with no arguments is no field at all
            elif c == '"':
                j = _skip_quoted(word, i) - 1
                self._double(word[i + 1:j], fields, keep, add)
                i = j + 1
            elif c == "$" or c == "`":
                j, value, multi = self._dollar(word, i)
                if multi is not None:
                    for k, piece in enumerate(multi):
                        if k:
                            fields.append([])
                            keep.append(False)
                        add_unquoted(piece)
                elif value is None:
                    add("$", False)
                else:
                    add_unquoted(value)
                i = j
            else:
                add(c, False)
                i += 1
        return [f for f, k in zip(fields, keep) if k or any(t for t, _ in f)]

    def _double(self, inner: str, fields: list, keep: list, add: Callable[[str, bool], None]) -> None:
        add("", True)
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner) and inner[i + 1] in '$`"\\\n':
                add(inner[i + 1], True)
                i += 2
            elif c in "$`":
                if inner.startswith("$@", i):  # "$@": one field per argument
                    for k, a in enumerate(self.args):
                        if k:
                            fields.append([])
                            keep.append(True)
                        add(a, True)
                    i += 2
                    continue
                j, value, multi = self._dollar(inner, i)
                add("$" if value is None and multi is None else (" ".join(multi) if multi is not None else value),
                    True)
                i = j
            else:
                add(c, True)
                i += 1

    def _dollar(self, s: str, i: int) -> tuple[int, str | None, list[str] | None]:
        """Expand the `$...` or backquote at s[i]: (end, value, fields for unquoted $@/$*)."""
        if s[i] == "`":
            j = _skip_quoted(s, i)
            return j, self._command_subst(re.sub(r"\\([$`\\])", r"\1", s[i + 1:j - 1])), None
        if s.startswith("$((", i):
            raise Unsupported("$((...)) arithmetic")
        if s.startswith("$(", i):
            j = _skip_quoted(s, i)
            return j, self._command_subst(s[i + 2:j - 1]), None
        if s.startswith("${", i):
            j = _skip_quoted(s, i)
            return j, self._brace(s[i + 2:j - 1]), None
        if i + 1 >= len(s):
            return i + 1, None, None
        c = s[i + 1]
        if c in "@*":
            return i + 2, None, list(self.args)
        if c in "?#$!0123456789-":
            return i + 2, self._special(c), None
        m = _NAME.match(s, i + 1)
        if not m:
            return i + 1, None, None
        return m.end(), self.vars.get(m.group(0), ""), None

    def _special(self, c: str) -> str:
        if c == "?":
            return str(self.status)
        if c == "#":
            return str(len(self.args))
        if c == "0":
            return self.arg0
        if c.isdigit():
            return self.args[int(c) - 1] if int(c) <= len(self.args) else ""
        if c == "$":
            return "4242"
        if c == "!":
            return self.vars.get("!", "")
        return ""

    def _brace(self, body: str) -> str:
        if body.startswith("#") and len(body) > 1:
            return str(len(self._brace(body[1:])))
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#@*$!])(.*)", body, re.S)
        if not m:
            raise ShSyntaxError(f"${{{body}}}: bad substitution")
        name, rest = m.group(1), m.group(2)
        if name.isdigit() or name in "?#@*$!":
            value: str | None = " ".join(self.args) if name in "@*" else self._special(name)
            if name.isdigit() and int(name) > len(self.args):
                value = None
        else:
            value = self.vars.get(name)
        if not rest:
            return value or ""
        for op in (":-", "-", ":+", "+", "##", "#", "%%", "%"):
            if rest.startswith(op):
                arg = rest[len(op):]
                break
        else:
            raise ShSyntaxError(f"${{{body}}}: bad substitution")
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return self.expand_string(arg) if unset else value  # type: ignore[return-value]
        if op in (":+", "+"):
            set_ = value is not None and (op == "+" or value != "")
            return self.expand_string(arg) if set_ else ""
        value = value or ""
        rx = re.compile(pattern_regex(self.expand_chunks(arg)), re.S)
        cuts = range(len(value) + 1)
        if op in ("#", "##"):
            order = cuts if op == "#" else reversed(cuts)
            k = next((k for k in order if rx.fullmatch(value[:k])), None)
            return value[k:] if k is not None else value
        order = reversed(cuts) if op == "%" else cuts
        k = next((k for k in order if rx.fullmatch(value[k:])), None)
        return value[:k] if k is not None else value

    def _command_subst(self, src: str) -> str:
        buf = bytearray()
        sub = self.subshell()
        sub.io = IO(self.io.stdin, buf.extend, self.io.err)
        self.status = sub.run(src)
        return buf.decode("utf-8", "replace").rstrip("\n")

    def glob(self, chunks: list[tuple[str, bool]]) -> list[str]:
        """Sorted paths matching an unquoted pattern; [] when nothing matches (the caller keeps the word)."""
        comps: list[list[tuple[str, bool]]] = [[]]
        for text, quoted in chunks:
            parts = text.split("/")
            for k, part in enumerate(parts):
                if k:
                    comps.append([])
                comps[-1].append((part, quoted))
        absolute = not "".join(t for t, _ in comps[0])
        if absolute:
            comps = comps[1:]
        found = ["/" if absolute else ""]
        for k, comp in enumerate(comps):
            last = k == len(comps) - 1
            literal = "".join(t for t, _ in comp)
            nxt: list[str] = []
            for base in found:
                if not has_glob(comp):
                    path = base + literal
                    if last and not literal:
                        nxt.append(path)  # trailing slash
                    elif self.file_test("-e", self.abs_path(path)):
                        nxt.append(path + ("" if last else "/"))
                    continue
                names = self.listdir(self.abs_path(base) if base else self.cwd) or []
                rx = re.compile(pattern_regex(comp), re.S)
                for name in sorted(names):
                    if name.startswith(".") and not literal.startswith("."):
                        continue
                    if rx.fullmatch(name):
                        nxt.append(base + name + ("" if last else "/"))
            found = nxt
        return sorted(p for p in found if p not in ("", "/"))


def _escapes(text: str) -> str:
    table = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f"}
    return re.sub(r"\\(0[0-7]{0,3}|.)", lambda m: chr(int(m.group(1), 8)) if m.group(1)[0] == "0"
                  else table.get(m.group(1), "\\" + m.group(1)), text)


def _quiet(fn: Callable, *args) -> None:
    try:
        fn(*args)
    except Exception:
        pass
