"""The shell language's syntax for tests/sim_sh.py: lexing, the POSIX grammar subset, and shell
patterns as regular expressions (quoted characters literal)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

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
