"""Tasks for the walls beyond Cloudflare (AWS WAF, DataDome, Imperva) and for the widget
kinds added with them (GeeTest v4, MTCaptcha, Friendly Captcha), built from the layout each
service documents: the profile's attributes (``aws_waf_fields``, ``datadome_style``,
``geetest_style``...) say which field carries what, these functions put them together.

What a page gave (``TaskContext.params``) is untrusted and was bounded by detection; a
task a service requires more for than the page gave is not sent to it
(``missing_params``: the next service of the chain is asked instead, nothing was paid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scrapy_captcha._kinds import (
    AWS_WAF,
    DATADOME,
    FRIENDLY_CAPTCHA,
    GEETEST_V4,
    INCAPSULA,
    MTCAPTCHA,
)
from scrapy_captcha.errors import ConfigurationError

if TYPE_CHECKING:
    from scrapy_captcha.detect._widget import Widget
    from scrapy_captcha.services._profiles_base import Provider
    from scrapy_captcha.services._task_fields import TaskContext

#: widget kinds whose tasks are built here (their answers are submitted like a gate's)
WALL_WIDGETS = frozenset({GEETEST_V4, MTCAPTCHA, FRIENDLY_CAPTCHA})
#: the fields a GeeTest v4 answer fills in, as its own script posts them
GEETEST_FIELDS = ("captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output")


class MissingParams(ConfigurationError):
    """The page gave less than the service requires for its task: not sent to it."""


def _require(provider: Provider, kind: str, params: Mapping[str, str], names: Any) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise MissingParams(
            f"{provider.name}'s {kind} task requires {', '.join(missing)}, which the page "
            "does not give: not sent to it"
        )


def _proxied(provider: Provider, kind: str, task: dict[str, Any], proxy: str) -> None:
    """Bind ``task`` to ``proxy`` in the service's proxy variant and proxy format."""
    if task["type"] == provider.task_types.get(kind) and kind in provider.proxy_task_types:
        task["type"] = provider.proxy_task_types[kind]
    task.update(provider.proxy_fields(proxy))


def wall_task(provider: Provider, kind: str, ctx: TaskContext) -> dict[str, Any]:
    """The task that buys the cookie of a ``kind`` wall (not Cloudflare's)."""
    task: dict[str, Any] = {"type": provider.task_type(kind), "websiteURL": ctx.url}
    params = ctx.params
    agent = ctx.service_user_agent or ctx.user_agent
    if kind == AWS_WAF:
        _require(provider, kind, params, provider.aws_waf_required)
        for name, field in provider.aws_waf_fields.items():
            if params.get(name):
                task[field] = params[name]
        task.update(provider.aws_waf_extra)
        if ctx.proxy:  # (CAPTCHA_TOKEN_PROXY: the service's proxy variant)
            _proxied(provider, kind, task, ctx.proxy)
    elif kind == DATADOME:
        _require(provider, kind, params, ("captcha_url",))
        if provider.datadome_style == "custom":  # CapMonster: a CustomTask of class DataDome
            cookie = ctx.cookies.get("datadome") or params.get("cookie") or ""
            task["class"] = "DataDome"
            task["metadata"] = {
                "captchaUrl": params["captcha_url"],
                "datadomeCookie": f"datadome={cookie}" if cookie else "",
            }
        else:
            task["captchaUrl"] = params["captcha_url"]
        if agent:
            task["userAgent"] = agent
        task.update(provider.proxy_fields(ctx.proxy))
    elif kind == INCAPSULA:
        _require(provider, kind, params, ("script_url",))
        task.update(
            scriptURL=params["script_url"],
            isUtmvc=True,
            cookies=[
                {"name": name, "value": value}
                for name, value in ctx.cookies.items()
                if name.startswith("incap_ses_")
            ],
        )
        if agent:
            task["userAgent"] = agent
    else:
        raise ConfigurationError(f"{provider.name} has no task for {kind}")
    task.update(ctx.extra)
    return task


def widget_wall_task(
    provider: Provider,
    widget: Widget,
    extra: Mapping[str, Any] | None = None,
    proxy: str | None = None,
) -> dict[str, Any]:
    """A GeeTest v4, MTCaptcha or Friendly Captcha task (proxyless, or bound to
    ``proxy`` in the service's proxy variant)."""
    kind = widget.kind
    task: dict[str, Any] = {"type": provider.task_type(kind), "websiteURL": widget.page_url}
    if kind == GEETEST_V4:
        style = provider.geetest_style
        if style == "captchaId":
            task["captchaId"] = widget.sitekey
        elif style == "init":
            task.update(version=4, initParameters={"captcha_id": widget.sitekey})
        else:
            task.update(gt=widget.sitekey, version=4)
    else:
        task["websiteKey"] = widget.sitekey
    if proxy is not None:
        _proxied(provider, kind, task, proxy)
    task.update(extra or {})
    return task
