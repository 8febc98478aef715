"""Tokenizer and parser for the command lines the virtual device's shell accepts.

The virtual device never hands a command line to a real shell: it parses it here and runs the
few commands it knows (see :mod:`llamatouch_emulator.shell_cmds`) in-process. The grammar is
the subset of Android's ``/system/bin/sh`` (mksh) that ``adb``, ``adbutils`` and
``uiautomator2`` send:

* words with POSIX quoting: ``'single'`` (everything literal), ``"double"`` (``\\$``, ``\\"``,
  ``\\\\`` and ``\\``-newline escapes; ``$`` expansions), and ``\\x`` outside quotes;
* parameter expansion ``$?``, ``$NAME``, ``${NAME}`` (outside single quotes);
* command lists ``a ; b``, ``a && b``, ``a || b``, newlines;
* redirections ``> file``, ``>> file``, ``2> file``, ``2>&1``, ``< file``;
* ``NAME=value`` assignments in front of a command; ``#`` comments.

Command substitution (``$(...)`` and backquotes), pipes, background jobs and subshells are
*recognised* (so that they can be logged and refused) but never executed.

``shlex`` is not used for the words themselves because it forgets which characters were
quoted, and ``$?`` inside single quotes must stay literal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Unsupported constructs are parsed into :class:`Refused` parts with one of these kinds.
SUBSTITUTION = "command substitution"


class ShellSyntaxError(Exception):
    """The command line is not valid shell syntax (e.g. an unterminated quote)."""


@dataclass(frozen=True, slots=True)
class Lit:
    """Literal text; ``quoted`` when it came from inside quotes or after a backslash."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Var:
    """A parameter expansion (``?`` for the last exit status)."""

    name: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A construct the virtual device refuses to run (e.g. ``$(cmd)``); ``text`` is verbatim."""

    kind: str
    text: str


Part = Lit | Var | Refused


@dataclass(slots=True)
class Word:
    parts: list[Part] = field(default_factory=list)

    def add_lit(self, ch: str, quoted: bool) -> None:
        if self.parts and isinstance(self.parts[-1], Lit) and self.parts[-1].quoted == quoted:
            prev = self.parts[-1]
            self.parts[-1] = Lit(prev.text + ch, quoted)
        else:
            self.parts.append(Lit(ch, quoted))

    def plain(self) -> str | None:
        """The word's text when it is one unquoted literal, else ``None``."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Lit) and not self.parts[0].quoted:
            return self.parts[0].text
        return None


@dataclass(frozen=True, slots=True)
class Op:
    """An operator token: ``;`` ``&&`` ``||`` ``|`` ``&`` ``(`` ``)`` or a redirection."""

    text: str
    fd: int | None = None


Token = Word | Op

_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | set("0123456789")
_SPECIAL_PARAMS = set("?#$!@*-0123456789")


def _read_dollar(line: str, i: int, word: Word) -> int:
    """``line[i] == '$'``: parse an expansion into ``word``; return the next index."""
    nxt = line[i + 1] if i + 1 < len(line) else ""
    if nxt == "(":
        end = _matching_paren(line, i + 1)
        word.parts.append(Refused(SUBSTITUTION, line[i : end + 1]))
        return end + 1
    if nxt == "{":
        end = line.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("${ without matching }")
        name = line[i + 2 : end]
        if not name or not (set(name) <= _NAME_CHARS or name in _SPECIAL_PARAMS):
            raise ShellSyntaxError(f"${{{name}}}: bad substitution")
        word.parts.append(Var(name))
        return end + 1
    if nxt in _SPECIAL_PARAMS and nxt:
        word.parts.append(Var(nxt))
        return i + 2
    if nxt in _NAME_START and nxt:
        j = i + 1
        while j < len(line) and line[j] in _NAME_CHARS:
            j += 1
        word.parts.append(Var(line[i + 1 : j]))
        return j
    word.add_lit("$", False)
    return i + 1


def _matching_paren(line: str, i: int) -> int:
    depth = 0
    for j in range(i, len(line)):
        if line[j] == "(":
            depth += 1
        elif line[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ShellSyntaxError("$( without matching )")


def tokenize(line: str) -> list[Token]:
    """Split ``line`` into words and operators (see the module docstring)."""
    tokens: list[Token] = []
    word: Word | None = None
    i = 0
    n = len(line)

    def end_word() -> None:
        nonlocal word
        if word is not None:
            tokens.append(word)
            word = None

    while i < n:
        ch = line[i]
        if ch in " \t":
            end_word()
            i += 1
            continue
        if ch == "\n":
            end_word()
            tokens.append(Op(";"))
            i += 1
            continue
        if ch == "#" and word is None:
            nl = line.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch in ";&|()<>":
            fd: int | None = None
            if ch in "<>" and word is not None:
                digits = word.plain()
                if digits is not None and digits.isdigit():
                    fd = int(digits)
                    word = None
            end_word()
            two = line[i : i + 2]
            if two in ("&&", "||", ">>", ";;"):
                if two == ";;":
                    raise ShellSyntaxError("syntax error: ';;' unexpected")
                tokens.append(Op(two, fd))
                i += 2
            elif two == ">&":
                j = i + 2
                while j < n and line[j].isdigit():
                    j += 1
                if j == i + 2:
                    raise ShellSyntaxError("syntax error: '>&' needs a descriptor")
                tokens.append(Op(">&" + line[i + 2 : j], fd))
                i = j
            else:
                tokens.append(Op(ch, fd))
                i += 1
            continue
        if word is None:
            word = Word()
        if ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated single quote")
            if end > i + 1:
                word.add_lit(line[i + 1 : end], True)
            else:
                word.parts.append(Lit("", True))
            i = end + 1
        elif ch == '"':
            i = _read_double(line, i + 1, word)
        elif ch == "\\":
            if i + 1 >= n:
                i += 1  # a trailing backslash is dropped, as mksh does
            elif line[i + 1] == "\n":
                i += 2
            else:
                word.add_lit(line[i + 1], True)
                i += 2
        elif ch == "$":
            i = _read_dollar(line, i, word)
        elif ch == "`":
            i = _read_backquote(line, i, word)
        else:
            word.add_lit(ch, False)
            i += 1
    end_word()
    return tokens


def _read_backquote(line: str, i: int, word: Word) -> int:
    """A backquoted command substitution starting at ``i``: kept as a refused part (never
    run); return the index after the closing backquote."""
    end = line.find("`", i + 1)
    if end < 0:
        raise ShellSyntaxError("unterminated backquote")
    word.parts.append(Refused(SUBSTITUTION, line[i : end + 1]))
    return end + 1


def _read_double(line: str, i: int, word: Word) -> int:
    """Inside ``"..."`` starting at ``i``; return the index after the closing quote."""
    n = len(line)
    empty = True
    while i < n:
        ch = line[i]
        if ch == '"':
            if empty:
                word.parts.append(Lit("", True))
            return i + 1
        empty = False
        if ch == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
            if line[i + 1] != "\n":
                word.add_lit(line[i + 1], True)
            i += 2
        elif ch == "$":
            i = _read_dollar(line, i, word)
        elif ch == "`":
            i = _read_backquote(line, i, word)
        else:
            word.add_lit(ch, True)
            i += 1
    raise ShellSyntaxError("unterminated double quote")


@dataclass(slots=True)
class Redirect:
    """``fd`` redirected: ``op`` is ``>``, ``>>``, ``<`` or ``>&N``; ``target`` a word."""

    fd: int
    op: str
    target: Word | None


@dataclass(slots=True)
class SimpleCommand:
    """One command: words, redirections, and the connector that precedes it."""

    connector: str  # ";" (run always), "&&" or "||"
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    refused: str = ""  # non-empty: an unsupported construct (pipe, background, subshell)


def parse(line: str) -> list[SimpleCommand]:
    """Parse ``line`` into a list of :class:`SimpleCommand`."""
    tokens = tokenize(line)
    commands: list[SimpleCommand] = []
    cur = SimpleCommand(";")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, Word):
            cur.words.append(tok)
            i += 1
            continue
        if tok.text in (";", "&&", "||"):
            if not cur.words and not cur.redirects and not cur.refused:
                if tok.text != ";":
                    raise ShellSyntaxError(f"syntax error: '{tok.text}' unexpected")
            else:
                commands.append(cur)
            cur = SimpleCommand(tok.text)
            i += 1
            continue
        if tok.text in ("|", "&", "(", ")"):
            what = {"|": "pipe", "&": "background job", "(": "subshell", ")": "subshell"}
            cur.refused = cur.refused or what[tok.text]
            i += 1
            continue
        # redirection
        op = tok.text
        target: Word | None = None
        if not op.startswith(">&"):
            if i + 1 >= len(tokens) or not isinstance(tokens[i + 1], Word):
                raise ShellSyntaxError(f"syntax error: redirection '{op}' without a file")
            nxt = tokens[i + 1]
            assert isinstance(nxt, Word)
            target = nxt
            i += 1
        default_fd = 0 if op == "<" else 1
        cur.redirects.append(Redirect(tok.fd if tok.fd is not None else default_fd, op, target))
        i += 1
    if cur.words or cur.redirects or cur.refused:
        commands.append(cur)
    elif cur.connector in ("&&", "||"):
        raise ShellSyntaxError(f"syntax error: unexpected end of line after '{cur.connector}'")
    return commands
