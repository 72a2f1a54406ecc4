"""What goes into a task before anything is paid for: whether a token task is bound to
the request's proxy, the proxy host resolved where a service takes IP addresses only,
fields a widget has that a service cannot carry (said once), the User-Agent a bare
clearance is bound to, and the hint given when a service has no task for a kind.

Why apart from ``_solving``: these are checks of one task against one profile; the
solving loop (failover, budget, the error policy) only calls them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future

from scrapy_captcha._compat import installed_reactor
from scrapy_captcha._route import route_for
from scrapy_captcha._state import options
from scrapy_captcha.errors import INPUT, ConfigurationError, SolverError
from scrapy_captcha.services._solutions import CloudflareSolution
from scrapy_captcha.services._task_fields import is_ip_address, task_kinds
from scrapy_captcha.services._wall_tasks import MissingParams
from scrapy_captcha.services.providers import PROVIDERS, Provider

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._context import Context
    from scrapy_captcha.detect._widgets import Widget


#: reasons of a task stopped by these checks: it never reached the service
NOT_SENT = frozenset({"proxy_unresolved", "no_proxy", "missing_params"})


async def prepared(
    ctx: Context, provider: Provider, build: Callable[[Provider], Mapping[str, Any]]
) -> dict[str, Any]:
    """The task to send, checked before anything is paid for: a proxy host name where
    the service takes only IP addresses is resolved (a name that does not resolve is a
    bad task, sent nowhere)."""
    try:
        payload = dict(build(provider))
    except MissingParams as exc:
        raise SolverError("missing_params", str(exc), family=INPUT) from None
    except ConfigurationError as exc:
        raise SolverError("bad_task", str(exc), family=INPUT) from None
    host = payload.get("proxyAddress")
    if provider.proxy_needs_ip and isinstance(host, str) and not is_ip_address(host):
        payload["proxyAddress"] = await _resolve(provider, host)
        ctx.inc("proxy/resolved")
    return payload


async def _resolve(provider: Provider, host: str) -> str:
    try:
        address = await maybe_deferred_to_future(installed_reactor().resolve(host, (2, 5)))
    except Exception as exc:
        raise SolverError(
            "proxy_unresolved",
            f"{provider.name} takes a proxy's IP address only, and the proxy host "
            f"{host[:100]!r} does not resolve ({type(exc).__name__}): task not sent",
            family=INPUT,
        ) from None
    return str(address)


def token_builder(
    ctx: Context,
    widget: Widget,
    fields: Mapping[str, Any] | None,
    request: Request | None,
) -> Callable[[Provider], Mapping[str, Any]]:
    """How to build ``widget``'s token task for a service: bound to the request's
    proxy where CAPTCHA_TOKEN_PROXY (or the meta key) asks for it and the service has a
    proxy variant, or where the configured task type is proxy-bound only."""
    kind = widget.task_key
    proxy = request_proxy(request)
    bound = token_proxy_wanted(ctx, request)

    def build(provider: Provider) -> Mapping[str, Any]:
        warn_unsent(ctx, provider, widget)
        via: str | None = None
        if provider.needs_proxy(kind):
            if proxy is None:
                raise SolverError(
                    "no_proxy",
                    f"{provider.name}'s {provider.task_type(kind)} task is bound to a proxy "
                    "and the request has none: task not sent",
                    family=INPUT,
                )
            via = proxy
        elif bound and proxy is not None and provider.has_proxy_variant(kind):
            via = proxy
        if via is not None:
            ctx.inc("token/proxy_bound")
        return provider.widget_task(widget, fields, via)

    return build


def warn_unsent(ctx: Context, provider: Provider, widget: Widget) -> None:
    for field in provider.unsent(widget):
        ctx.inc("task/unsent_field")
        ctx.warn_once(
            f"unsent|{provider.name}|{field}",
            "%s documents no task field for the %s of %s widgets (%s): its tasks are sent "
            "without it",
            provider.name,
            field,
            widget.kind,
            widget.page_url,
        )


def token_proxy_wanted(ctx: Context, request: Request | None) -> bool:
    """``meta["captcha"]["token_proxy"]``, else CAPTCHA_TOKEN_PROXY."""
    default = ctx.settings.token_proxy
    value = options(request).get("token_proxy") if request is not None else None
    if value is None:
        return default
    if not isinstance(value, bool):
        ctx.warn_once(
            "token_proxy_meta",
            'meta["captcha"]["token_proxy"] must be True or False, got %s: ignored',
            type(value).__name__,
            level=logging.ERROR,
        )
        return default
    return value


def request_proxy(request: Request | None) -> str | None:
    """The proxy ``request`` goes through, credentials included, as a URL."""
    if request is None or not request.meta.get("proxy"):
        return None
    return route_for(request, b"").solver_proxy()


def report_dropped(ctx: Context, dropped: tuple[str, ...]) -> None:
    """Reply fields that cannot go on a request: counted, and said once each."""
    for name in dropped:
        ctx.inc("reply/dropped_field")
        ctx.warn_once(
            f"dropped|{name}",
            "Solver reply %s cannot be sent on a request (not an HTTP token, not "
            "latin-1, or too long): left out",
            name,
        )


def bound_to(
    solution: CloudflareSolution | None, sent: Mapping[str, Any]
) -> CloudflareSolution | None:
    """A clearance whose reply names no User-Agent is bound to the one its task named
    (CapMonster's bare cf_clearance): replayed with that same one."""
    agent = sent.get("userAgent")
    if solution is not None and solution.user_agent is None and isinstance(agent, str):
        return dataclasses.replace(solution, user_agent=agent)
    return solution


def no_task_hint(provider: Provider, task_key: str, chain_can: Iterable[str]) -> str:
    """What ``provider`` can and cannot do for ``task_key`` captchas, and which services
    can: those of the chain (``chain_can``) first, else the built-in ones."""
    kinds = [k for k in task_kinds(task_key) if k in provider.cannot]
    cannot = provider.cannot[kinds[0]] if kinds else None
    chain = [name for name in chain_can if name != provider.name]
    builtin = [
        name
        for name, cls in PROVIDERS.items()
        if name != provider.name and all(k in cls.task_types for k in task_kinds(task_key))
    ]
    if chain:
        others = f"In CAPTCHA_PROVIDERS, {_names(chain)} can: its solves go there."
    elif builtin:
        others = (
            f"Services that can: {_names(builtin)} (add one to CAPTCHA_PROVIDERS, with its "
            "key in CAPTCHA_API_KEYS)."
        )
    else:
        others = "No built-in service can."
    if cannot is not None:
        return (
            f"{provider.name} cannot solve {task_key} captchas ({cannot}): reported, not "
            "solved; a task type set through CAPTCHA_TASK_TYPES would only buy useless "
            f"tasks. {others}"
        )
    return (
        f"{provider.name} has no task type for {task_key} captchas: reported, not solved. "
        f"{others} Only if {provider.name}'s own documents name such a task, set it with "
        f"CAPTCHA_TASK_TYPES = {{{task_key!r}: '<TaskType>'}}."
    )


def _names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
