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

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request, send_file
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as _werkzeug_server

from llamatouch.errors import LlamaTouchError, PathEscapeError
from llamatouch.web.guard import (
    json_body,
    require_token,
)
from llamatouch.web.session import AnnotationSession

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent


def create_app(session: AnnotationSession, token: str) -> Flask:
    """Build the Flask app serving ``session``; ``token`` guards every request."""
    app = Flask(
        "llamatouch.web",
        template_folder=str(_HERE / "templates"),
        static_folder=str(_HERE / "static"),
        static_url_path="/static",
    )
    app.config.update(MAX_CONTENT_LENGTH=4 * 1024 * 1024, JSON_SORT_KEYS=False)

    require_token(app, token)

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
