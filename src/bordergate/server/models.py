"""`GET /v1/models` and `GET /v1/models/{id}`: the models this caller may use, in either shape.

OpenAI and Anthropic both serve a model list at the same path but in different shapes; the
Anthropic SDK always sends `anthropic-version`, so that header selects Anthropic's shape (and
Anthropic-format errors). Only models the caller's policy permits are listed or retrievable:
a model the caller may not use is a 404, exactly like one that does not exist, so the list
and the lookup never disagree.
"""

from __future__ import annotations

from typing import Any

from bordergate.identity.principal import Principal
from bordergate.policy.explain import allowed_names
from bordergate.server.errors import GatewayError, not_found
from bordergate.server.gateway import Gateway

PREFIXES = ("/v1/models/", "/models/")
# Neither API needs a real creation time; the catalog does not know one for every model.
_EPOCH = "1970-01-01T00:00:00Z"


def client_format(anthropic_version: bytes | None) -> str:
    """`anthropic` when the request carries `anthropic-version` (as the Anthropic SDK's do)."""
    return "anthropic" if anthropic_version is not None else "openai"


def _permitted(gw: Gateway, principal: Principal) -> list[str]:
    engine = gw.engine
    if engine is None:
        return list(gw.deployments)
    return allowed_names(engine, principal, gw.facts_by_name())


def _entry(gw: Gateway, name: str, fmt: str) -> dict[str, Any]:
    if fmt == "anthropic":
        return {"type": "model", "id": name, "display_name": name, "created_at": _EPOCH}
    first = gw.deployments[name][0]
    owner = first.facts.vendor if first.facts is not None else first.provider.host
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}


def model_list(gw: Gateway, principal: Principal, fmt: str = "openai") -> dict[str, Any]:
    """The list: OpenAI `{object: list, data}`, Anthropic `{data, has_more, first_id, last_id}`."""
    data = [_entry(gw, name, fmt) for name in _permitted(gw, principal)]
    if fmt == "anthropic":
        first = data[0]["id"] if data else None
        last = data[-1]["id"] if data else None
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}
    return {"object": "list", "data": data}


def model_entry(
    gw: Gateway, principal: Principal, name: str, fmt: str = "openai"
) -> dict[str, Any]:
    """One model's object, or a 404 when this caller may not use a model of that name."""
    if name in gw.deployments and name in _permitted(gw, principal):
        return _entry(gw, name, fmt)
    raise not_found(
        f"model {name!r} is not offered to you by this gateway; GET /v1/models lists the "
        "models you may use"
    )


def method_not_allowed(method: str) -> GatewayError:
    return GatewayError(405, "invalid_request_error", f"{method} not allowed; use GET")
