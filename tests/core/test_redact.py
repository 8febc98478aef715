"""llamatouch.redact: URL credentials and secret values never survive redaction."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from llamatouch import redact
from llamatouch.redact import (
    MASK,
    MIN_FRAGMENT,
    RedactingFilter,
    SecretRegistry,
    redact_text,
    redact_url,
    url_secrets,
)

# secrets as API keys look: letters, digits, - and _
SECRET_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789-_"
secrets_st = st.text(SECRET_CHARS, min_size=MIN_FRAGMENT, max_size=64)
# surrounding text drawn from characters no secret uses, so it cannot form a fragment itself
noise_st = st.text(" .,:;!?()[]{}\"'\n\t", max_size=40)
free_text_st = st.text(max_size=200)


def fragments(secret: str) -> list[str]:
    return [secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1)]


def test_examples() -> None:
    assert redact_url("http://user:secret@127.0.0.1:8000/v1?key=SECRET") == (
        "http://***@127.0.0.1:8000/v1?key=***"
    )
    assert redact_url("https://h/v1?api_key=a&model=gpt&access_token=b;sig=c") == (
        "https://h/v1?api_key=***&model=gpt&access_token=***;sig=***"
    )
    assert redact_url("https://tok123@h/v1") == "https://***@h/v1"
    # a token under an innocent name, and a bare token, look like secrets
    assert redact_url("https://h/v1?x=AbCdEf0123456789GhIjKl&v=2024-02-01") == (
        "https://h/v1?x=***&v=2024-02-01"
    )
    assert redact_url("https://h/v1?AbCdEf0123456789GhIjKl") == "https://h/v1?***"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    # in free text, punctuation after a URL stays
    assert redact_text("at http://h/v1?key=abcd: down.", []) == "at http://h/v1?key=***: down."
    # unparsable (bad IPv6) still loses its credentials
    assert "pw" not in redact_url("http://u:pw@[::1/v1?key=zz")
    assert "zz" not in redact_url("http://u:pw@[::1/v1?key=zz")


def test_secret_forms_in_text() -> None:
    key = "sk-proj-Zq81AbCdEfGh0987"
    basic = base64.b64encode(f"alice:{key}".encode()).decode()
    text = (
        f"Incorrect API key provided: {key[:12]}***{key[-4:]}; header was Basic {basic}; "
        f"bearer b64 {base64.b64encode(key.encode()).decode()}; url-encoded {quote(key)}"
    )
    out = redact_text(text, [key])
    for frag in fragments(key):
        assert frag not in out
    assert basic not in out
    assert out.startswith("Incorrect API key provided: ***")
    # short secrets: exact matches only; tiny ones are ignored
    assert redact_text("pw=hunter2 and hunter", ["hunter2"]) == f"pw={MASK} and hunter"
    assert redact_text("a b c", ["a"]) == "a b c"


def test_url_secrets_keep_usernames_that_are_not_tokens() -> None:
    found = url_secrets("http://user:secret@h/v1?key=SECRET&model=m")
    assert {"secret", "SECRET", "user:secret"} <= found
    assert "user" not in found and "m" not in found
    assert "tok123456" in url_secrets("http://tok123456@h/v1")


def test_registry_reads_secret_like_environment_variables() -> None:
    reg = SecretRegistry()
    reg.add_env({
        "OPENAI_API_KEY": "sk-abcdefgh12345678",
        "HF_TOKEN": "hf_ABCDEFGH1234",
        "MY_PASSWORD": "correct-horse-battery",
        "OPENAI_BASE_URL": "http://u:pw-1234567@h/v1",
        "PWD": "/work/main",
        "TOKENIZERS_PARALLELISM": "false-false-false",
        "PATH": "/usr/bin:/bin",
        "SHORT_KEY": "abc",
    })
    s = reg.secrets()
    assert {"sk-abcdefgh12345678", "hf_ABCDEFGH1234", "correct-horse-battery", "pw-1234567"} <= s
    assert "/work/main" not in s and "false-false-false" not in s and "/usr/bin:/bin" not in s
    assert "abc" not in s
    assert reg.redact("cwd /work/main key sk-abcdefgh12345678") == f"cwd /work/main key {MASK}"


def test_placeholder_keys_are_not_secrets() -> None:
    reg = SecretRegistry()
    reg.add_env({})
    reg.add("no-key")
    assert reg.secrets() == frozenset()


def test_log_filter_redacts_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-LOGTEST-0123456789abcdef"
    redact.register_secret(secret)
    logger = logging.getLogger("llamatouch.test_redact")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("calling %s with %s", "http://u:pw1234@h/v1?key=zz", secret)
        try:
            raise ValueError(f"echo {secret}")
        except ValueError:
            logger.exception("failed")
    assert secret not in caplog.text and "pw1234" not in caplog.text
    assert "key=zz" not in caplog.text
    assert "calling http://***@h/v1?key=*** with ***" in caplog.text


def test_redact_value_walks_json() -> None:
    secret = "sk-VALUE-0123456789abcdef"
    redact.register_secret(secret)
    doc = {"config": {"base_url": "http://a:b1234567@h/v1", "n": 3, "note": [secret, None]}}
    out = redact.redact_value(doc)
    assert out == {"config": {"base_url": "http://***@h/v1", "n": 3, "note": [MASK, None]}}


# -- properties -----------------------------------------------------------------------------


@given(secrets_st, noise_st, noise_st, st.integers(min_value=MIN_FRAGMENT, max_value=64))
def test_no_fragment_of_a_secret_survives(secret: str, before: str, after: str,
                                          cut: int) -> None:
    """The secret, any prefix of >= 8 characters, and its base64 form are all removed."""
    prefix = secret[: min(cut, len(secret))]
    b64 = base64.b64encode(secret.encode()).decode()
    text = f"{before}{secret}{after} key={prefix}... auth={b64}{before}"
    out = redact_text(text, [secret])
    for frag in fragments(secret):
        assert frag not in out
    assert b64 not in out


@given(secrets_st, st.text(max_size=6), st.text(max_size=6))
def test_base64_at_any_alignment(secret: str, head: str, tail: str) -> None:
    """Base64 of the secret inside a longer value (e.g. ``user:KEY`` in Basic auth)."""
    blob = base64.b64encode(f"{head}{secret}{tail}".encode()).decode()
    out = redact_text(f"Authorization: Basic {blob}", [secret])
    assert blob not in out
    urlsafe = base64.urlsafe_b64encode(f"{head}{secret}{tail}".encode()).decode()
    assert urlsafe not in redact_text(urlsafe, [secret])


@given(free_text_st, st.lists(secrets_st, max_size=3))
def test_redact_text_is_idempotent(text: str, secrets: list[str]) -> None:
    once = redact_text(text, secrets)
    assert redact_text(once, secrets) == once


@given(st.text("#$&@^~ !?.\n", max_size=200), secrets_st)
def test_text_without_secrets_is_unchanged(text: str, secret: str) -> None:
    assume("://" not in text)
    assert redact_text(text, [secret]) == text


userinfo_st = st.text(SECRET_CHARS, min_size=1, max_size=20)
value_st = st.text(SECRET_CHARS + "%+/=", min_size=2, max_size=40)
param_st = st.sampled_from(["key", "api_key", "apikey", "token", "access_token", "Secret",
                            "password", "sig", "X-Api-Key"])


@given(userinfo_st, value_st, param_st, st.integers(min_value=1, max_value=65535),
       st.sampled_from(["", "/v1", "/openai/v1"]))
def test_redact_url_removes_credentials(user: str, value: str, param: str, port: int,
                                        path: str) -> None:
    password = "pw" + value
    url = f"http://{user}:{quote(password, safe='')}@127.0.0.1:{port}{path}?{param}={value}&m=x"
    out = redact_url(url)
    assert quote(password, safe="") not in out and f"{param}={value}" not in out
    parts = urlsplit(out)
    assert parts.hostname == "127.0.0.1" and parts.port == port and parts.path == path
    assert parts.query.endswith("&m=x")
    assert redact_url(out) == out  # idempotent
    # the registry knows the values, so an echo of them in free text is redacted too
    reg = SecretRegistry()
    reg.add_env({})
    reg.add_url(url)
    assert password not in reg.redact(f"server said: bad password {password}")


@given(st.sampled_from(["http", "https"]), st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,5}){0,2}",
                                                         fullmatch=True),
       st.lists(st.sampled_from(["model=gpt", "v=2", "stream=true", "n=1"]), max_size=3))
def test_urls_without_credentials_are_unchanged(scheme: str, host: str, params: list[str]) -> None:
    url = f"{scheme}://{host}/v1" + ("?" + "&".join(params) if params else "")
    assert redact_url(url) == url


def test_configs_that_hold_an_endpoint_never_show_its_credentials() -> None:
    """``repr`` of the run and agent configs (what a traceback, a debugger or a log line
    shows) masks the endpoint's user-info and credential parameters."""
    from pathlib import Path

    from llamatouch.agent import AgentOptions
    from llamatouch.runner.runconfig import EvalConfig

    url = "https://bob:hunter22pw@llm.example:8000/v1?api_key=abc123xyz789&model=x"
    configs = (AgentOptions(base_url=url), EvalConfig(agent="random", out=Path("r"), base_url=url))
    for cfg in configs:
        text = repr(cfg)
        assert "hunter22pw" not in text and "abc123xyz789" not in text, text
        assert "llm.example:8000/v1" in text and "model=x" in text
        assert text.startswith(type(cfg).__name__ + "(")
    assert repr(AgentOptions()) == (
        "AgentOptions(model='embedded', base_url=None, seed=0, max_steps=15, memory_dir='', "
        "params={})"
    )
