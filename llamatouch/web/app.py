"""The annotation web app (Flask): pages, JSON API, token check, confined file access.

Security model:

* every request must carry the session's access token: ``?token=`` once (the URL the CLI
  prints; the app then sets an HttpOnly, SameSite=Strict cookie and redirects to the clean
  URL), the cookie afterwards, or the ``X-LlamaTouch-Token`` header. Anything else is 403;
* requests that change state (``POST``) must carry the header as well, so a page on another
  origin cannot make the browser save through the cookie alone;
* files are only read from the trace folder and only written to the annotation store, both
  through :func:`llamatouch.fsutil.safe_join` (``..``, absolute paths, encoded dots and
  symlinks leading out are refused);
* the server binds 127.0.0.1 unless told otherwise (see :func:`make_server`), and answers
  only requests whose ``Host`` header names it (``127.0.0.1``, ``localhost`` or ``[::1]``
  with the bound port, or the address it was told to bind): a page of another site whose
  name resolves to 127.0.0.1 (DNS rebinding) gets 400;
* malformed requests are client errors, never a 500: a NUL byte in the path or the query
  (400), a body that is not JSON or is nested deeper than :data:`MAX_JSON_DEPTH` (400).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, render_template, request, send_file
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as _werkzeug_server

from llamatouch.errors import LlamaTouchError, PathEscapeError
from llamatouch.web.session import AnnotationSession

log = logging.getLogger(__name__)

TOKEN_COOKIE = "llamatouch_token"  # noqa: S105 (a cookie name, not a secret)
TOKEN_HEADER = "X-LlamaTouch-Token"  # noqa: S105 (a header name)
#: Deepest JSON request body accepted (an annotation is about 8 levels deep).
MAX_JSON_DEPTH = 64
#: Host names that mean this machine (with the bound port, they pass the Host check).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: Bound addresses that accept connections on every interface (the Host check is then moot).
_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 (recognised, not bound, here)
_HERE = Path(__file__).resolve().parent


def new_token() -> str:
    """A fresh random access token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _same(a: str | None, b: str) -> bool:
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
    import json

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


def create_app(session: AnnotationSession, token: str) -> Flask:
    """Build the Flask app serving ``session``; ``token`` guards every request."""
    app = Flask(
        "llamatouch.web",
        template_folder=str(_HERE / "templates"),
        static_folder=str(_HERE / "static"),
        static_url_path="/static",
    )
    app.config.update(MAX_CONTENT_LENGTH=4 * 1024 * 1024, JSON_SORT_KEYS=False)

    guard_requests(app)

    @app.before_request
    def _check_token() -> Any:
        header = request.headers.get(TOKEN_HEADER)
        if request.method not in ("GET", "HEAD"):
            if not _same(header, token):
                abort(403)
            return None
        query = request.args.get("token")
        if _same(query, token):
            args = {k: v for k, v in request.args.items() if k != "token"}
            target = request.path + (f"?{urlencode(args)}" if args else "")
            resp = redirect(target)
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            return resp
        if _same(header, token) or _same(request.cookies.get(TOKEN_COOKIE), token):
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
        return "forbidden: open the URL printed by `llamatouch annotate` (it holds the token)", 403

    @app.errorhandler(PathEscapeError)
    def _escape(exc: PathEscapeError) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 403

    @app.get("/")
    def index() -> str:
        ov = session.overview()
        return render_template("annotate.html", token=token, task=ov["task"],
                               task_id=ov["task_id"], episode=ov["episode_id"],
                               nsteps=len(ov["steps"]))

    @app.get("/api/trace")
    def api_trace() -> Response:
        return jsonify(session.overview())

    @app.get("/api/annotation")
    def api_annotation() -> Any:
        try:
            return jsonify(session.load_or_propose(request.args.get("name")))
        except PathEscapeError:
            raise
        except LlamaTouchError as exc:
            return jsonify(error=str(exc)), 422

    @app.post("/api/propose")
    def api_propose() -> Any:
        try:
            return jsonify(session.propose())
        except LlamaTouchError as exc:
            return jsonify(error=str(exc)), 422

    @app.post("/api/validate")
    def api_validate() -> Any:
        body = json_body()
        return jsonify(session.validate(body.get("annotation")))

    @app.post("/api/primitive")
    def api_primitive() -> Any:
        body = json_body()
        try:
            prim = session.make_primitive(
                str(body.get("type", "")), int(body.get("step", -1)),
                body.get("component"), body.get("params") or {},
            )
        except (LlamaTouchError, ValueError, TypeError, IndexError) as exc:
            return jsonify(error=str(exc)), 422
        return jsonify(primitive=prim)

    @app.post("/api/save")
    def api_save() -> Any:
        body = json_body()
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            return jsonify(error="name must be a string"), 400
        try:
            return jsonify(session.save(body.get("annotation"), name))
        except PathEscapeError:
            raise
        except LlamaTouchError as exc:
            return jsonify(error=str(exc)), 422

    @app.get("/step/<int:index>.png")
    def step_image(index: int) -> Any:
        if not 0 <= index < len(session.trace.steps):
            abort(404)
        png = session.step_image(index)
        if png is None:
            abort(404)
        return Response(png, mimetype="image/png")

    @app.get("/trace/<path:rel>")
    def trace_file(rel: str) -> Any:
        try:
            path = session.trace_file(rel)
        except FileNotFoundError:
            abort(404)
        return send_file(path)

    return app


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded WSGI server bound to ``host:port`` (port 0: a free one)."""
    return _werkzeug_server(host, port, app, threaded=True)
