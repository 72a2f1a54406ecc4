"""Solver-client pieces that need no network."""

from __future__ import annotations

from scrapy_captcha.errors import FATAL, RETRY, SolverError
from scrapy_captcha.services._client import SolverClient
from scrapy_captcha.services.providers import EzCaptcha, OneCaptcha


class _NoReactor:
    def callLater(self, *a: object, **k: object) -> None:  # pragma: no cover
        raise AssertionError("no timers in these tests")


def client(provider=None, key: str = "K3Y-secret") -> SolverClient:  # type: ignore[no-untyped-def]
    return SolverClient(provider or OneCaptcha(), key, reactor=_NoReactor())


def test_error_text_is_redacted() -> None:
    c = client()
    text = c._redact("bad key K3Y-secret for proxy http://bob:pa55@1.2.3.4:80 and socks5://u:p@h")
    assert "K3Y-secret" not in text and "pa55" not in text and "bob" not in text
    assert "http://***@1.2.3.4:80" in text and "socks5://***@h" in text


def test_raise_for_error_classifies_by_code_not_id() -> None:
    c = client(EzCaptcha())
    c._raise_for_error({"errorId": 0, "taskId": 5})
    c._raise_for_error({"errorId": "0"})
    try:
        c._raise_for_error({"errorId": 1, "errorCode": "ERROR_ZERO_BALANCE", "errorDesc": "empty"})
    except SolverError as exc:
        assert exc.family == FATAL and exc.reason == "zero_balance" and "empty" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no error raised")
    try:
        c._raise_for_error({"errorCode": "ERROR_SOMETHING", "errorDescription": "K3Y-secret"})
    except SolverError as exc:
        assert exc.family == RETRY and "K3Y-secret" not in str(exc) + repr(exc)
    else:  # pragma: no cover
        raise AssertionError("no error raised")


def test_repr_has_no_key() -> None:
    assert "K3Y-secret" not in repr(client())


def test_proxy_credentials_are_redacted_in_any_form() -> None:
    from scrapy_captcha.services._client import _redact_proxy

    text = "proxy bob:pa55w0rd@1.2.3.4 refused (user bob, pass pa55w0rd)"
    out = _redact_proxy(text, "http://bob:pa55w0rd@1.2.3.4:80")
    assert "pa55w0rd" not in out and "bob" not in out
    assert _redact_proxy("x", None) == "x"


def test_solve_errors_never_carry_the_task_proxy_credentials() -> None:
    import asyncio

    c = client()

    async def failing(task, timeout, on_created):  # type: ignore[no-untyped-def]
        raise SolverError("proxy", "ERROR_PROXY_CONNECT_REFUSED: cannot use carol:hunter22@h:1")

    c._solve = failing  # type: ignore[method-assign]
    try:
        asyncio.run(c.solve({"proxy": "http://carol:hunter22@h:1"}))
    except SolverError as exc:
        assert "hunter22" not in str(exc) and "carol" not in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no error raised")


def test_redact_secrets_in_any_form() -> None:
    import base64

    from scrapy_captcha.services._redaction import redact_secrets

    b64 = base64.b64encode(b"bob:pa55w0rd").decode()
    text = f"pa55w0rd PA55W0RD pa55%770rd Basic {b64} bob"
    out = redact_secrets(text, ["pa55w0rd", "bob"])
    assert "pa55" not in out.lower() and b64 not in out and "bob" not in out
