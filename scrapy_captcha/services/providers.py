"""Provider profiles: everything that differs between solver services lives here.

A profile knows its base URL, its task type names (per task kind: ``cloudflare``,
``turnstile``, ``recaptcha_v2``, ``recaptcha_v3``, ``recaptcha_v2_enterprise``,
``recaptcha_v3_enterprise``, ``hcaptcha``, ``image``; CAPTCHA_TASK_TYPES overrides them),
how to put each task together, how to read its error replies and how to normalise the many
documented solution shapes, plus its prices, its report endpoints and its createTask
envelope. The solver client and the middleware never hard-code a provider detail.

The base class lives in ``_profiles_base``, the built-in profiles in ``_profiles``; this
module is their public face and the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapy.utils.misc import load_object

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._matrix import (
    ErrorRow,
    ServiceRow,
    error_rows,
    render_markdown,
    service_rows,
)
from scrapy_captcha.services._profile_capmonster import CapMonster
from scrapy_captcha.services._profile_capsolver import CapSolver
from scrapy_captcha.services._profiles import (
    AntiCaptcha,
    EzCaptcha,
    OneCaptcha,
    TwoCaptcha,
    YesCaptcha,
)
from scrapy_captcha.services._profiles_base import DEFAULT_V3_ACTION, Provider, TaskContext
from scrapy_captcha.services._task_fields import (
    build_rq_data,
    colon_proxy,
    image_type,
    split_proxy,
)

__all__ = [
    "DEFAULT_V3_ACTION",
    "PROVIDERS",
    "AntiCaptcha",
    "CapMonster",
    "CapSolver",
    "ErrorRow",
    "EzCaptcha",
    "OneCaptcha",
    "Provider",
    "ServiceRow",
    "TaskContext",
    "TwoCaptcha",
    "YesCaptcha",
    "build_rq_data",
    "colon_proxy",
    "image_type",
    "load_provider",
    "service_errors",
    "service_matrix",
    "service_matrix_markdown",
    "split_proxy",
]

PROVIDERS: dict[str, type[Provider]] = {
    cls.name: cls
    for cls in (
        AntiCaptcha,
        TwoCaptcha,
        CapMonster,
        CapSolver,
        YesCaptcha,
        OneCaptcha,
        EzCaptcha,
    )
}


def load_provider(
    name_or_path: str | type[Provider],
    task_types: Mapping[str, str] | None = None,
    envelope: Mapping[str, Any] | None = None,
) -> Provider:
    """A provider by registered name (see ``PROVIDERS``) or import path; ``envelope`` holds
    createTask fields such as ``softId`` / ``appId`` / ``callbackUrl``."""
    if isinstance(name_or_path, type):
        cls = name_or_path
    elif name_or_path in PROVIDERS:
        cls = PROVIDERS[name_or_path]
    else:
        try:
            cls = load_object(name_or_path)
        except (ValueError, NameError, ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"unknown CAPTCHA_PROVIDER {name_or_path!r}: use one of {sorted(PROVIDERS)} "
                "or the import path of a Provider subclass"
            ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigurationError(f"CAPTCHA_PROVIDER {name_or_path!r} is not a Provider subclass")
    return cls(task_types, envelope)


def service_matrix(
    providers: Mapping[str, type[Provider]] | None = None,
) -> list[ServiceRow]:
    """The services table, from the profiles themselves: a row per service and task
    kind (task type, proxy-bound type and proxy fields, report endpoint, price)."""
    return service_rows(PROVIDERS if providers is None else providers)


def service_errors(providers: Mapping[str, type[Provider]] | None = None) -> list[ErrorRow]:
    """Every error code each service documents, and what the add-on does with it."""
    return error_rows(PROVIDERS if providers is None else providers)


def service_matrix_markdown(providers: Mapping[str, type[Provider]] | None = None) -> str:
    """Both tables as Markdown (the docs page renders the same rows)."""
    return render_markdown(service_matrix(providers), service_errors(providers))
