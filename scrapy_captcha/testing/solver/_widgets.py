"""Token and image tasks: validate them as providers do at createTask, and "solve" them with
tokens minted (or images read) by the shared ``WidgetAuthority``."""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from ..widgets import WidgetAuthority, WidgetError
from ._browser import _fetch, task_proxy
from ._tables import (
    DIALECTS,
    ON_PAGE,
    TURNSTILE_FIELDS,
    _browser_ua,
    _optional,
    _SolveError,
    _WidgetJob,
    _WidgetType,
)


def _widget_job(
    authority: WidgetAuthority, wtype: _WidgetType, task: dict[str, Any], dialect: str = ""
) -> _WidgetJob:
    """Validate a widget or image task as providers do at createTask (bad input and bad
    site keys are refused there, never queued); a proxy-bound one names its proxy in the
    dialect's format."""
    if wtype.kind == "image":
        body = task.get("body")
        if not isinstance(body, str) or not body:
            raise _SolveError("ERROR_BAD_PARAMETERS", "body must be a base64 string")
        try:
            image = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _SolveError(
                "ERROR_BAD_PARAMETERS",
                "body must be standard base64 without line breaks or whitespace",
            ) from None
        if not image:
            raise _SolveError("ERROR_BAD_PARAMETERS", "body decodes to an empty image")
        _optional(task, "imageType", str)
        return _WidgetJob("image", image=image)
    url = task.get("websiteURL")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _SolveError("ERROR_BAD_PARAMETERS", "websiteURL must be an http(s) URL")
    sitekey = geetest_id(wtype, task) if wtype.kind == "geetest_v4" else task.get("websiteKey")
    if not isinstance(sitekey, str) or not sitekey:
        raise _SolveError("ERROR_BAD_PARAMETERS", "websiteKey must be a non-empty string")
    action: str | None = None
    cdata: str | None = None
    invisible = False
    enterprise = wtype.enterprise
    proxy = None
    proxied = wtype.proxy == "required" or (
        wtype.proxy == "optional" and ("proxyAddress" in task or "proxy" in task)
    )
    if proxied:
        proxy = task_proxy(dialect, task)
    if wtype.kind == "turnstile" and wtype.turnstile_fields == ON_PAGE:
        pass  # (the worker runs the page's own widget: no field is read)
    elif wtype.kind == "turnstile":
        container, action_field, cdata_field = TURNSTILE_FIELDS[wtype.turnstile_fields]
        holder, prefix = task, ""
        if container is not None:
            holder, prefix = _optional(task, container, dict) or {}, f"{container}."
        action = _optional(holder, action_field, str, prefix)
        if cdata_field is not None:
            cdata = _optional(holder, cdata_field, str, prefix)
    elif wtype.kind == "recaptcha_v2":
        invisible = bool(_optional(task, "isInvisible", bool))
        payload = _optional(task, "enterprisePayload", dict) or {}
        _optional(payload, "s", str, "enterprisePayload.")
        _optional(task, "recaptchaDataSValue", str)
        _optional(task, "s", str)
        _optional(task, "pageAction", str)
        domain = _optional(task, "apiDomain", str)
        if domain is not None and domain not in ("www.google.com", "www.recaptcha.net"):
            raise _SolveError("ERROR_BAD_PARAMETERS", "apiDomain: www.google.com or recaptcha.net")
    elif wtype.kind == "recaptcha_v3":
        action = _optional(task, "pageAction", str)
        _optional(task, "websiteTitle", str)
        _optional(task, "isInvisible", bool)
        score = task.get("minScore")
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 < score < 1
        ):
            raise _SolveError("ERROR_BAD_PARAMETERS", "minScore must be a number in (0, 1)")
        enterprise = enterprise or bool(_optional(task, "isEnterprise", bool))
    elif wtype.kind == "hcaptcha":
        invisible = bool(_optional(task, "isInvisible", bool))
    try:
        authority.check_sitekey(wtype.kind, sitekey)
    except WidgetError as exc:
        raise _SolveError(exc.code, exc.description) from None
    return _WidgetJob(
        wtype.kind,
        sitekey=sitekey,
        page_url=str(url),
        action=action,
        cdata=cdata,
        invisible=invisible,
        enterprise=enterprise,
        on_page=wtype.kind == "turnstile" and wtype.turnstile_fields == ON_PAGE,
        proxy=proxy,
    )


def geetest_id(wtype: _WidgetType, task: dict[str, Any]) -> str:
    """A GeeTest v4 task's captcha id, in the dialect's layout (``captchaId``; ``gt`` with
    ``version: 4``; ``version: 4`` with ``initParameters.captcha_id``)."""
    layout = wtype.turnstile_fields
    if layout == "captchaId":
        return str(task.get("captchaId") or "")
    if task.get("version") != 4:
        raise _SolveError("ERROR_BAD_PARAMETERS", "version must be 4 for GeeTest v4")
    if layout == "init":
        init = _optional(task, "initParameters", dict) or {}
        return str(init.get("captcha_id") or "")
    return str(task.get("gt") or "")


def _solve_widget(
    authority: WidgetAuthority, dialect: str, job: _WidgetJob, seq: int, timeout: float = 30.0
) -> dict[str, Any]:
    """A worker's "solve" of a widget: a token minted by the authority (or an image read
    by it), in the reply fields providers use. A proxy-bound task's worker loads the
    page through the task's proxy first (a proxy that refuses fails the task)."""
    if job.proxy is not None:
        _fetch(
            job.proxy,
            "GET",
            job.page_url,
            _browser_ua(seq),
            OrderedDict(),
            None,
            None,
            site="none",
            timeout=timeout,
        )
    if job.kind == "image":
        text = authority.read_image(job.image)
        if text is None:
            raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "the image could not be read")
        return {"widget": {DIALECTS[dialect].image_field: text}}
    try:
        minted = authority.mint(
            job.kind,
            job.sitekey,
            page_url=job.page_url,
            action=job.action,
            cdata=job.cdata,
            invisible=job.invisible,
            enterprise=job.enterprise,
            on_page=job.on_page,
        )
    except WidgetError as exc:
        raise _SolveError(exc.code, exc.description) from None
    solution: dict[str, Any]
    if job.kind == "geetest_v4":
        return {"widget": dict(minted.fields)}
    if job.kind in ("mtcaptcha", "friendly_captcha"):
        solution = {"token": minted.token}
    elif job.kind == "turnstile":
        solution = {"token": minted.token, "userAgent": _browser_ua(seq)}
    elif job.kind == "hcaptcha":
        solution = {"gRecaptchaResponse": minted.token}
        if job.proxy is not None:
            solution["userAgent"] = _browser_ua(seq)
    else:
        solution = {"gRecaptchaResponse": minted.token, "userAgent": _browser_ua(seq)}
    if minted.resp_key is not None:
        solution["respKey"] = minted.resp_key
    if minted.cookies:
        solution["cookies"] = dict(minted.cookies)
    return {"widget": solution}


def _forge_token(solution: dict[str, Any]) -> None:
    """Swap a minted token for one the site never issued (the ``bad_token`` fault): the
    site refuses it, and the add-on should report it for a refund."""
    widget = solution.get("widget", {})
    for name in ("token", "gRecaptchaResponse", "text", "captcha_output"):
        if isinstance(widget.get(name), str):
            widget[name] = widget[name][:3] + "FORGED" + widget[name][9:]
