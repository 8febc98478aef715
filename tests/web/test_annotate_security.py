"""Security of the annotation app, through real HTTP on loopback: the token guards every
request, no path leaves the trace root or the annotation store, and the server listens on
127.0.0.1 only unless ``--host`` says otherwise."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from llamatouch.web.app import create_app, make_server
from llamatouch.web.guard import TOKEN_HEADER, new_token
from llamatouch.web.session import AnnotationSession, SessionConfig

SECRET = "top-secret-outside-the-roots"


def _request(
    port: int, method: str, path: str, *, headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, bytes, dict[str, str]]:
    """One raw HTTP request: the path is sent exactly as given (no client-side clean-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers or {})
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    out = resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return out


@pytest.fixture
def confined(gt_trace: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The app on a copy of the trace that holds a symlink pointing out of it, with a secret
    file beside the roots and a symlink out of the annotation store too."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "secret.json").write_text(json.dumps({"secret": SECRET}))
    trace = tmp_path / "trace"
    shutil.copytree(gt_trace, trace)
    (trace / "escape").symlink_to(outside, target_is_directory=True)
    (trace / "secret-link.txt").symlink_to(outside / "secret.txt")
    store = tmp_path / "store"
    store.mkdir()
    (store / "out").symlink_to(outside, target_is_directory=True)
    session = AnnotationSession(SessionConfig(trace_dir=trace, annotations_dir=store))
    token = new_token()
    server = make_server(create_app(session, token), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"port": server.server_port, "token": token, "session": session,
               "outside": outside, "store": store, "trace": trace}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _auth(env: dict[str, Any]) -> dict[str, str]:
    return {TOKEN_HEADER: env["token"]}


# -- the token -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/"), ("GET", "/api/trace"), ("GET", "/api/annotation"), ("GET", "/step/0.png"),
     ("GET", "/trace/manifest.json"), ("GET", "/static/annotate.js"),
     ("POST", "/api/validate"), ("POST", "/api/save"), ("POST", "/api/primitive")],
)
def test_requests_without_the_token_are_refused(
    confined: dict[str, Any], method: str, path: str
) -> None:
    port = confined["port"]
    body = {} if method == "POST" else None
    status, data, _ = _request(port, method, path, body=body)
    assert status == 403
    assert b"token" in data  # the refusal says what is missing
    # a wrong token (same length) is refused as well
    wrong = "x" * len(confined["token"])
    assert _request(port, method, path, headers={TOKEN_HEADER: wrong}, body=body)[0] == 403
    assert _request(port, method, f"{path}?token={wrong}", body=body)[0] == 403
    assert _request(port, method, path, headers={"Cookie": f"llamatouch_token={wrong}"},
                    body=body)[0] == 403


def test_the_token_opens_the_page_and_moves_into_a_cookie(confined: dict[str, Any]) -> None:
    port, token = confined["port"], confined["token"]
    status, _, headers = _request(port, "GET", f"/?token={token}")
    assert status == 302 and headers["location"].endswith("/")
    cookie = headers["set-cookie"]
    assert f"llamatouch_token={token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, data, headers = _request(port, "GET", "/",
                                     headers={"Cookie": f"llamatouch_token={token}"})
    assert status == 200 and b"annotate.js" in data
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    # the trace API answers to the header
    status, data, _ = _request(port, "GET", "/api/trace", headers=_auth(confined))
    assert status == 200 and json.loads(data)["task_id"] == "calendar-task1"


def test_a_cookie_alone_cannot_save(confined: dict[str, Any]) -> None:
    """A page on another origin can make the browser send the cookie, not the header."""
    port, token = confined["port"], confined["token"]
    ann = confined["session"].propose()["annotation"]
    status, _, _ = _request(port, "POST", "/api/save",
                            headers={"Cookie": f"llamatouch_token={token}"},
                            body={"annotation": ann})
    assert status == 403
    assert list(confined["store"].glob("*.json")) == []
    status, _, _ = _request(port, "POST", "/api/save", headers=_auth(confined),
                            body={"annotation": ann})
    assert status == 200
    assert (confined["store"] / "calendar-task1.json").is_file()


# -- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/trace/../../outside/secret.txt",
        "/trace/..%2f..%2foutside%2fsecret.txt",
        "/trace/%2e%2e/%2e%2e/outside/secret.txt",
        "/trace/%2E%2E/%2E%2E/outside/secret.txt",
        "/trace/steps/../../../outside/secret.txt",
        "/trace//etc/passwd",
        "/trace/%2fetc%2fpasswd",
        "/trace/escape/secret.txt",
        "/trace/secret-link.txt",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_trace_paths_cannot_escape(confined: dict[str, Any], path: str) -> None:
    status, data, headers = _request(confined["port"], "GET", path, headers=_auth(confined))
    if status == 308:  # werkzeug merges double slashes: the target stays under /trace/
        target = urlsplit(headers["location"]).path
        assert target.startswith(("/trace/", "/static/")), target
        status, data, _ = _request(confined["port"], "GET", target, headers=_auth(confined))
    assert status in (403, 404), (path, status)
    assert SECRET.encode() not in data
    assert b"root:" not in data


def test_trace_files_inside_the_root_are_served(confined: dict[str, Any]) -> None:
    status, data, _ = _request(confined["port"], "GET", "/trace/manifest.json",
                               headers=_auth(confined))
    assert status == 200 and json.loads(data)["episode_id"]


@pytest.mark.parametrize(
    "name",
    ["../escaped.json", "../../escaped.json", "/tmp/escaped.json", "%2e%2e/escaped.json",
     "..%2fescaped.json", "sub/../../escaped.json", "out/escaped.json", "out/secret.json",
     "notes.txt", "..\\escaped.json", "%2e%2e/x/escaped.json", ".hidden/escaped.json"],
)
def test_saving_outside_the_store_is_refused(
    confined: dict[str, Any], name: str, tmp_path: Path
) -> None:
    port = confined["port"]
    ann = confined["session"].propose()["annotation"]
    # the name as the page sends it, and its URL-decoded form
    for n in {name, name.replace("%2e", ".").replace("%2f", "/")}:
        status, _, _ = _request(port, "POST", "/api/save", headers=_auth(confined),
                                body={"annotation": ann, "name": n})
        assert status in (400, 403, 422), (n, status)
    assert sorted(p.name for p in confined["outside"].iterdir()) == ["secret.json",
                                                                       "secret.txt"]
    assert not (tmp_path / "escaped.json").exists()
    assert not (Path("/tmp") / "escaped.json").exists()
    assert (confined["outside"] / "secret.json").read_text() == json.dumps({"secret": SECRET})


@pytest.mark.parametrize("name", ["../escaped.json", "%2e%2e%2fescaped.json",
                                  "out/secret.json", "/etc/passwd"])
def test_reading_annotations_outside_the_store_is_refused(
    confined: dict[str, Any], name: str
) -> None:
    status, data, _ = _request(confined["port"], "GET", f"/api/annotation?name={name}",
                               headers=_auth(confined))
    assert status == 403
    assert SECRET.encode() not in data


def test_save_is_schema_validated(confined: dict[str, Any]) -> None:
    port = confined["port"]
    bad = {"schema": "llamatouch.essential/1", "task_id": "t", "instruction": "", "app": "",
           "checkpoints": [{"primitives": [{"type": "nonsense"}]}]}
    status, data, _ = _request(port, "POST", "/api/save", headers=_auth(confined),
                               body={"annotation": bad})
    assert status == 422 and b"nonsense" in data
    assert list(confined["store"].glob("*.json")) == []


# -- the interface the server listens on ----------------------------------------------------


def _other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    candidates: set[str] = set()
    with contextlib.suppress(OSError):
        candidates.update(socket.gethostbyname_ex(socket.gethostname())[2])
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it picks a route
        candidates.add(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    others = sorted(a for a in candidates if not a.startswith("127.") and a != "0.0.0.0")
    return others[0] if others else None


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def _start_cli(
    trace: Path, store: Path, *extra: str
) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``llamatouch annotate``; returns the process, the URL it printed and what it
    printed before."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from llamatouch.cli import main; sys.exit(main())",
         "annotate", str(trace), "--annotations",
         str(store), "--port", "0", "--no-browser", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("open "):
            return proc, line.split(" ", 1)[1].strip(), "".join(lines)
    proc.wait(timeout=10)
    raise AssertionError("the CLI printed no URL:\n" + "".join(lines))


def test_make_server_binds_loopback_by_default(gt_trace: Path, tmp_path: Path) -> None:
    session = AnnotationSession(SessionConfig(trace_dir=gt_trace, annotations_dir=tmp_path))
    server = make_server(create_app(session, new_token()))
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server.socket.getsockname()[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_cli_listens_on_loopback_only_unless_told(gt_trace: Path, tmp_path: Path) -> None:
    other = _other_address()
    proc, url, _ = _start_cli(gt_trace, tmp_path / "store")
    try:
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{40,})", url)
        assert m, url
        port = int(m.group(1))
        assert _accepts("127.0.0.1", port)
        if other is not None:
            assert not _accepts(other, port), f"reachable on {other}"
        status, _, _ = _request(port, "GET", "/api/trace")
        assert status == 403
        status, _, _ = _request(port, "GET", "/api/trace", headers={TOKEN_HEADER: m.group(2)})
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    # the positive control: asked to, it does listen on the other interface (and warns)
    proc, url, out = _start_cli(gt_trace, tmp_path / "store", "--host", "0.0.0.0")
    try:
        port = int(url.split(":")[2].split("/")[0])
        assert _accepts(other, port)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert "warning: listening on 0.0.0.0" in out


# -- malformed requests and DNS rebinding (4xx, never 500) ----------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/trace/%00"),
        ("GET", "/trace/steps/0000/step.json%00.png"),
        ("GET", "/trace/a%00/../manifest.json"),
        ("GET", "/api/annotation?name=x%00.json"),
        ("GET", "/api/trace?x=%00"),
        ("POST", "/api/save"),
    ],
)
def test_nul_byte_in_a_path_is_a_client_error(confined: dict[str, Any], method: str,
                                             path: str) -> None:
    body = {"name": "a\x00.json", "annotation": {}} if method == "POST" else None
    status, data, _ = _request(confined["port"], method, path, headers=_auth(confined),
                               body=body)
    assert 400 <= status < 500, (path, status, data[:200])
    assert SECRET.encode() not in data


@pytest.mark.parametrize("depth", [200, 5_000, 200_000])
@pytest.mark.parametrize("endpoint", ["/api/validate", "/api/save", "/api/primitive"])
def test_deeply_nested_json_is_a_client_error(confined: dict[str, Any], endpoint: str,
                                             depth: int) -> None:
    raw = ('{"annotation": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()
    conn = http.client.HTTPConnection("127.0.0.1", confined["port"], timeout=30)
    conn.request("POST", endpoint, body=raw,
                 headers={**_auth(confined), "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 400, (endpoint, depth, resp.status, data[:200])
    assert b"nested" in data
    # the server is still there
    status, _, _ = _request(confined["port"], "GET", "/api/trace", headers=_auth(confined))
    assert status == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}",
     "localhost.evil.example:{port}", "127.0.0.1:1", "localhost:{port}@evil.example", ""],
)
def test_foreign_host_header_is_refused(confined: dict[str, Any], host: str) -> None:
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own Host."""
    status, data, _ = _request(confined["port"], "GET", "/api/trace",
                               headers={**_auth(confined), "Host": host.format(
                                   port=confined["port"])})
    assert status in (400, 421), (host, status)
    assert b"episode_id" not in data


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "LOCALHOST:{port}"])
def test_loopback_host_headers_are_served(confined: dict[str, Any], host: str) -> None:
    status, data, _ = _request(confined["port"], "GET", "/api/trace",
                               headers={**_auth(confined), "Host": host.format(
                                   port=confined["port"])})
    assert status == 200 and b"episode_id" in data
