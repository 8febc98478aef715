"""Keep credentials out of everything llamatouch writes (run.json, results, traces, logs, reports).

One job: turn text that may hold a secret into text that does not.

- :func:`redact_url` removes the credentials of one URL: the user-info part
  (``http://user:pass@host`` -> ``http://***@host``) and the value of every query or fragment
  parameter that names a credential (``key``, ``api_key``, ``token``, ``access_token``,
  ``secret``, ``password``, ``sig``...) or looks like one (a long mixed-case-and-digit or hex
  string). Scheme, host, port and path are kept, so a redacted URL still says where it pointed.
- :func:`redact_text` removes known secret *values* from free text (an error message, a log line,
  an answer a server echoed back), in the forms a server may echo them: the value itself, any run
  of at least :data:`MIN_FRAGMENT` consecutive characters of it (a prefix such as ``sk-proj-AbC``,
  a suffix, a truncated key), its percent-encoded form, and its base64 form at any alignment
  (e.g. inside an echoed ``Authorization: Basic ...`` header). URLs in the text pass through
  :func:`redact_url`.
- :class:`SecretRegistry` holds the secret values of this process: values of environment
  variables whose name says they are secrets (``OPENAI_API_KEY``, ``HF_TOKEN``...), keys handed to
  a backend and the credentials found in a ``--base-url``. :func:`redact` applies the
  process-wide registry; :func:`register_secret` / :func:`register_url` add to it, and
  :func:`install_log_redaction` makes log handlers pass every record through :func:`redact`.

Secrets shorter than :data:`MIN_SECRET_LEN` characters are not searched for in free text (they
would match ordinary words); :func:`redact_url` still removes them from URLs.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

#: What a secret is replaced with.
MASK = "***"
#: Shortest secret value searched for in free text.
MIN_SECRET_LEN = 4
#: Any run of this many consecutive characters of a secret (or of an encoded form) is redacted.
MIN_FRAGMENT = 8

#: Query/fragment parameter names that carry credentials (matched anywhere in the name).
CREDENTIAL_PARAM = re.compile(
    r"key|token|secret|passw|pwd|auth|sig|credential|session|jwt|bearer|private", re.IGNORECASE
)
#: Environment variable names whose values are secrets.
SECRET_ENV_NAME = re.compile(
    r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH_?TOKEN)(S)?($|_)",
    re.IGNORECASE,
)
#: Environment variables never treated as secrets, whatever their name.
NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD", "TOKENIZERS_PARALLELISM"})
#: Values never registered as secrets (placeholders sent when there is no key).
NOT_SECRET_VALUES = frozenset({"no-key", "none", "null", "EMPTY", "sk-no-key-required"})

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~+/=%]+")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")


def looks_like_secret(value: str) -> bool:
    """Whether a URL parameter value looks like a credential even under an innocent name.

    True for token-like strings of at least 20 characters that mix upper case, lower case and
    digits (API keys, JWTs, signatures) and for hex strings of at least 32 characters.
    """
    v = unquote_plus(value)
    if len(v) < 20 or not _TOKEN_CHARS.fullmatch(v):
        return False
    if _HEX.fullmatch(v):
        return True
    return any(c.isupper() for c in v) and any(c.islower() for c in v) and any(
        c.isdigit() for c in v
    )


def _redact_params(text: str, sep: str = "&") -> str:
    """Redact the credential values of an ``a=1&b=2`` string, keeping its layout."""
    if not text:
        return text
    parts = []
    for part in re.split(r"([&;])", text):
        if part in ("&", ";") or not part:
            parts.append(part)
            continue
        name, eq, value = part.partition("=")
        if not eq:  # a bare value: ``?SECRETTOKEN``
            parts.append(MASK if looks_like_secret(name) else part)
        elif value and value != MASK and (
            CREDENTIAL_PARAM.search(unquote_plus(name)) or looks_like_secret(value)
        ):
            parts.append(f"{name}={MASK}")
        else:
            parts.append(part)
    return "".join(parts)


def redact_url(url: str) -> str:
    """``url`` without its credentials (user-info, credential query/fragment values).

    Never raises: text that does not parse as a URL is redacted as well as it can be (any
    ``//...@`` user-info and ``name=value`` credentials are removed).

    >>> redact_url("http://bob:hunter22@127.0.0.1:8000/v1?key=abc123&model=x")
    'http://***@127.0.0.1:8000/v1?key=***&model=x'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_loose(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit(
        (parts.scheme, netloc, parts.path, _redact_params(parts.query),
         _redact_params(parts.fragment))
    )


def _redact_loose(text: str) -> str:
    text = re.sub(r"//[^/?#\s]*@", f"//{MASK}@", text)
    head, q, tail = text.partition("?")
    return head + q + _redact_params(tail) if q else text


def _base64_forms(value: str) -> set[str]:
    """Every base64 text that encodes ``value``, whatever its alignment inside a longer input.

    Only the characters determined by ``value``'s own bits are kept (the neighbours change them),
    in the standard and the URL-safe alphabets.
    """
    raw = value.encode("utf-8")
    out: set[str] = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw).decode("ascii")
        start = -(-8 * pad // 6)  # ceil(8*pad/6): first character made only of value's bits
        end = 8 * (pad + len(raw)) // 6  # characters entirely inside value's bits
        core = enc[start:end]
        if len(core) >= MIN_SECRET_LEN:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


def secret_forms(secret: str) -> set[str]:
    """The texts a secret may appear as: itself, percent-encoded, base64 (see module doc)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    forms |= _base64_forms(secret)
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def _spans(text: str, needle: str) -> list[tuple[int, int]]:
    """Where ``needle`` (if short) or any run of MIN_FRAGMENT of its characters occurs."""
    out: list[tuple[int, int]] = []
    if len(needle) < MIN_FRAGMENT:
        start = text.find(needle)
        while start != -1:
            out.append((start, start + len(needle)))
            start = text.find(needle, start + 1)
        return out
    for i in range(len(needle) - MIN_FRAGMENT + 1):
        gram = needle[i : i + MIN_FRAGMENT]
        start = text.find(gram)
        while start != -1:
            out.append((start, start + MIN_FRAGMENT))
            start = text.find(gram, start + 1)
    return out


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces = []
    pos = 0
    for a, b in merged:
        pieces.append(text[pos:a])
        pieces.append(MASK)
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)


def _redact_url_match(match: re.Match[str]) -> str:
    """A URL found in free text, redacted; punctuation that ends the sentence is kept."""
    url = match.group(0)
    core = url.rstrip(".,:;!?)]}")
    return redact_url(core) + url[len(core):]


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (and URL credentials) replaced by ``***``.

    Args:
        text: any text (an error message, a log line, a JSON document).
        secrets: the secret values to remove; values shorter than :data:`MIN_SECRET_LEN` are
            ignored.
    """
    needles: set[str] = set()
    for s in secrets:
        if s and len(s) >= MIN_SECRET_LEN:
            needles |= secret_forms(s)
    for _ in range(8):  # until nothing changes (masking can join fragments); bounded
        before = text
        if "://" in text:
            text = _URL_IN_TEXT.sub(_redact_url_match, text)
        spans: list[tuple[int, int]] = []
        for needle in needles:
            spans.extend(_spans(text, needle))
        text = _mask_spans(text, spans)
        if text == before:
            break
    return text


def url_secrets(url: str) -> set[str]:
    """The secret values inside a URL: user name, password, ``user:password``, and the values
    of credential parameters (raw and percent-decoded)."""
    out: set[str] = set()
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
        raw_userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    except ValueError:
        m = re.search(r"//([^/?#\s]*)@", url)
        raw_userinfo = m.group(1) if m else ""
        user, _, password = raw_userinfo.partition(":")
        parts = None
    if raw_userinfo:
        # A user name next to a password is an identity, not a credential (and often a common
        # word: redacting "user" everywhere would garble traces); alone it is a token.
        values = [password, raw_userinfo]
        if not password or (user and looks_like_secret(user)):
            values.append(user)
        for v in values:
            if v:
                out.add(v)
                out.add(unquote_plus(v))
        if user and password:
            basic = f"{unquote_plus(user)}:{unquote_plus(password)}"
            out.add(basic)  # what HTTP Basic auth sends ...
            out.add(base64.b64encode(basic.encode("utf-8")).decode("ascii"))  # ... encoded so
    query = (parts.query + "&" + parts.fragment) if parts is not None else url.partition("?")[2]
    for part in re.split(r"[&;]", query):
        name, eq, value = part.partition("=")
        if not eq:
            if looks_like_secret(name):
                out |= {name, unquote_plus(name)}
            continue
        if value and (CREDENTIAL_PARAM.search(unquote_plus(name)) or looks_like_secret(value)):
            out |= {value, unquote_plus(value)}
    return {v for v in out if v and v != MASK}


class SecretRegistry:
    """The secret values known to this process (thread-safe).

    Attributes are private; use :meth:`add`, :meth:`add_url`, :meth:`add_env`, :meth:`redact`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._env_scanned = False

    def add(self, value: str | None) -> None:
        """Remember one secret value (ignored if empty, too short, or a known placeholder)."""
        if value and len(value) >= MIN_SECRET_LEN and value not in NOT_SECRET_VALUES:
            with self._lock:
                self._secrets.add(value)

    def add_url(self, url: str | None) -> None:
        """Remember the credentials found in a URL (see :func:`url_secrets`)."""
        if url:
            for v in url_secrets(url):
                self.add(v)

    def add_env(self, environ: Mapping[str, str] | None = None) -> None:
        """Remember the values of environment variables named like secrets (and the
        credentials of ``*_URL`` variables such as ``OPENAI_BASE_URL``)."""
        env = os.environ if environ is None else environ
        for name, value in list(env.items()):
            if name.upper() in NOT_SECRET_ENV or not value:
                continue
            if SECRET_ENV_NAME.search(name) and len(value) >= MIN_FRAGMENT:
                self.add(value)
            elif name.upper().endswith("_URL") and "://" in value:
                self.add_url(value)
        with self._lock:
            self._env_scanned = True

    def secrets(self) -> frozenset[str]:
        """The registered values (the environment is scanned on first use)."""
        if not self._env_scanned:
            self.add_env()
        with self._lock:
            return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        """:func:`redact_text` with this registry's secrets."""
        return redact_text(text, self.secrets())


#: The process-wide registry used by :func:`redact`.
REGISTRY = SecretRegistry()


def register_secret(value: str | None) -> None:
    """Add a secret value to the process-wide registry."""
    REGISTRY.add(value)


def register_url(url: str | None) -> None:
    """Add the credentials of a URL to the process-wide registry."""
    REGISTRY.add_url(url)


def redact(text: str) -> str:
    """``text`` without URL credentials or any secret known to this process."""
    return REGISTRY.redact(text)


def redacted_repr(obj: Any) -> str:
    """A dataclass's usual ``repr`` through :func:`redact`: for configs that hold an
    endpoint URL, so a traceback, a debugger or a log line never shows its credentials."""
    body = ", ".join(
        f"{f.name}={getattr(obj, f.name)!r}" for f in dataclasses.fields(obj) if f.repr
    )
    return redact(f"{type(obj).__qualname__}({body})")


def redact_value(value: object) -> object:
    """A JSON-like value (dicts, lists, strings...) with every string passed through
    :func:`redact` (keys included); other values are returned unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)) if isinstance(k, str) else k: redact_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (and exception text) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_logger(*names: str) -> None:
    """Attach a :class:`RedactingFilter` to the named loggers themselves, so their own records
    are redacted before any handler sees them (e.g. ``httpx`` logs every request URL with its
    user-info and query at INFO). Idempotent."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach a :class:`RedactingFilter` to every handler of ``logger`` (default: the root
    logger), so that no log line carries a secret. Idempotent."""
    target = logging.getLogger() if logger is None else logger
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
