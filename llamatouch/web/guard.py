"""Request guards shared by every web app llamatouch serves (the annotation tool, the task
authoring app): the access token, the ``Host`` check, malformed-request refusals and the
security headers. One place, so that every app gets the same rules.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, request

TOKEN_COOKIE = "llamatouch_token"  # noqa: S105 (a cookie name, not a secret)
TOKEN_HEADER = "X-LlamaTouch-Token"  # noqa: S105 (a header name)
#: Deepest JSON request body accepted (an annotation is about 8 levels deep).
MAX_JSON_DEPTH = 64
#: Host names that mean this machine (with the bound port, they pass the Host check).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: Bound addresses that accept connections on every interface (the Host check is then moot).
_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 (recognised, not bound, here)


def new_token() -> str:
    """A fresh random access token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def same_token(a: str | None, b: str) -> bool:
    """Constant-time comparison of a presented token with the session's."""
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def host_allowed(host_header: str, bound_host: str, bound_port: str) -> bool:
    """Whether a request's ``Host`` header names this server: a loopback name (or the address
    it was bound to) with the bound port. A server bound to every interface accepts any."""
    bound = bound_host.strip("[]").lower()
    if bound in _WILDCARDS:
        return True
    name, port = host_header.lower(), "80"  # no port: the default one
    if ":" in name and not name.endswith("]"):  # host:port, [v6]:port (not a bare [v6])
        name, _, port = name.rpartition(":")
    if not name or not port.isdigit() or port != bound_port:
        return False
    allowed = LOOPBACK_NAMES | {bound, f"[{bound}]"}
    return name in allowed


def _depth_ok(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)
    return True


def _bad_request(message: str) -> Response:
    resp = jsonify(error=message)
    resp.status_code = 400
    return resp


def json_body() -> dict[str, Any]:
    """The request's JSON object; a malformed, non-object or too deeply nested body aborts
    the request with 400."""
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except RecursionError:
        abort(_bad_request(f"JSON nested too deeply (limit {MAX_JSON_DEPTH} levels)"))
    except ValueError:
        abort(_bad_request("expected a JSON object"))
    if not isinstance(body, dict):
        abort(_bad_request("expected a JSON object"))
    if not _depth_ok(body, MAX_JSON_DEPTH):
        abort(_bad_request(f"JSON nested too deeply (limit {MAX_JSON_DEPTH} levels)"))
    return body


def guard_requests(app: Flask) -> None:
    """Refuse, before any route (and before the token check), requests with a foreign
    ``Host`` header (DNS rebinding) or a NUL byte in the path or query (400), and answer 400
    to a request whose processing recursed too deeply. Call it right after creating an app
    (the annotation app and any other app served by ``llamatouch``)."""

    @app.before_request
    def _check_request() -> Any:
        env = request.environ
        if not host_allowed(request.host, str(env.get("SERVER_NAME", "")),
                            str(env.get("SERVER_PORT", ""))):
            return _bad_request("unexpected Host header (open the URL printed by "
                                "`llamatouch`)")
        if "\x00" in request.path or any(
            "\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)
        ):
            return _bad_request("a NUL byte in the request")
        return None

    @app.errorhandler(RecursionError)
    def _too_deep(_: RecursionError) -> Response:
        return _bad_request("request nested too deeply")


def require_token(app: Flask, token: str, *, tool: str = "llamatouch annotate") -> None:
    """Guard every route of ``app``: :func:`guard_requests`, then the access token.

    ``?token=`` once (sets an HttpOnly, SameSite=Strict cookie and redirects to the clean URL),
    the cookie afterwards, or the :data:`TOKEN_HEADER` header; requests that change state must
    carry the header (a page of another origin cannot save through the cookie alone). Adds the
    security headers to every answer. ``tool`` names the command whose URL holds the token.
    """
    guard_requests(app)

    @app.before_request
    def _check_token() -> Any:
        header = request.headers.get(TOKEN_HEADER)
        if request.method not in ("GET", "HEAD"):
            return None if same_token(header, token) else abort(403)
        if same_token(request.args.get("token"), token):
            args = {k: v for k, v in request.args.items() if k != "token"}
            resp = redirect(request.path + (f"?{urlencode(args)}" if args else ""))
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            return resp
        if same_token(header, token) or same_token(request.cookies.get(TOKEN_COOKIE), token):
            return None
        abort(403)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
        )
        return resp

    @app.errorhandler(403)
    def _forbidden(_: Any) -> tuple[str, int]:
        return f"forbidden: open the URL printed by `{tool}` (it holds the token)", 403
