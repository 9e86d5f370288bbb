"""Which provider surface a request path addresses.

Besides the vendors' own APIs the emulator answers the two cloud hosts whose wire format is the
same as a vendor's — Azure OpenAI (OpenAI chat completions under a deployment path) and
Anthropic on Google Vertex AI (Anthropic messages under ``:rawPredict`` /
``:streamRawPredict``) — so that gateway adapters for those hosts can be tested too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Auth = Literal["openai", "anthropic", "azure", "vertex"]


@dataclass(frozen=True, slots=True)
class Route:
    """A provider endpoint: wire format, credential style, and a model named in the path."""

    anthropic: bool
    auth: Auth
    counting: bool = False
    path_model: str | None = None
    vertex: bool = False


_STATIC = {
    "/v1/chat/completions": Route(anthropic=False, auth="openai"),
    "/chat/completions": Route(anthropic=False, auth="openai"),
    "/v1/messages": Route(anthropic=True, auth="anthropic"),
    "/v1/messages/count_tokens": Route(anthropic=True, auth="anthropic", counting=True),
}
_AZURE_PREFIX = "/openai/deployments/"
_AZURE_SUFFIX = "/chat/completions"
_VERTEX_PREFIX = "/v1/projects/"
_VERTEX_MODELS = "/publishers/anthropic/models/"


def match_route(path: str) -> Route | None:
    """The route for a request path, or None when the path is no provider endpoint."""
    route = _STATIC.get(path)
    if route is not None:
        return route
    if path.startswith(_AZURE_PREFIX) and path.endswith(_AZURE_SUFFIX):
        deployment = path[len(_AZURE_PREFIX) : -len(_AZURE_SUFFIX)]
        if deployment and "/" not in deployment:
            return Route(anthropic=False, auth="azure", path_model=deployment)
    if path.startswith(_VERTEX_PREFIX) and _VERTEX_MODELS in path:
        model, _, verb = path.rpartition(_VERTEX_MODELS)[2].partition(":")
        if model == "count-tokens" and verb == "rawPredict":
            return Route(anthropic=True, auth="vertex", counting=True, vertex=True)
        if model and "/" not in model and verb in ("rawPredict", "streamRawPredict"):
            return Route(anthropic=True, auth="vertex", path_model=model, vertex=True)
    return None
