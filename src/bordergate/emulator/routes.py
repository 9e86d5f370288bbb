"""Which provider surface a request path addresses.

Besides the vendors' own APIs the emulator answers the cloud hosts that carry a vendor's wire
format — Azure OpenAI (OpenAI chat completions under a deployment path), Anthropic on Google
Vertex AI (Anthropic messages under ``:rawPredict`` / ``:streamRawPredict``) and Anthropic on
Amazon Bedrock (``/model/{modelId}/invoke`` and ``/invoke-with-response-stream``, answered in
AWS's event-stream framing) — so that gateway adapters for those hosts can be tested too.

Paths arrive percent-decoded, so a Bedrock model id keeps its ``:`` (``...-v1:0``) and an ARN
id its ``/``; everything between ``/model/`` and the verb is the model id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Auth = Literal["openai", "anthropic", "azure", "vertex", "bedrock"]


@dataclass(frozen=True, slots=True)
class Route:
    """A provider endpoint: wire format, credential style, and a model named in the path.

    ``stream`` is for hosts whose endpoint, not the body, decides streaming (Bedrock).
    """

    anthropic: bool
    auth: Auth
    counting: bool = False
    path_model: str | None = None
    vertex: bool = False
    bedrock: bool = False
    stream: bool = False


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
_BEDROCK_PREFIX = "/model/"
_BEDROCK_INVOKE = "/invoke"
_BEDROCK_STREAM = "/invoke-with-response-stream"
_BEDROCK_COUNT = "/count-tokens"


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
    if path.startswith(_BEDROCK_PREFIX) and path.endswith(_BEDROCK_COUNT):
        model = path[len(_BEDROCK_PREFIX) : -len(_BEDROCK_COUNT)]
        if model:
            return Route(
                anthropic=True, auth="bedrock", path_model=model, bedrock=True, counting=True
            )
    if path.startswith(_BEDROCK_PREFIX):
        stream = path.endswith(_BEDROCK_STREAM)
        verb = _BEDROCK_STREAM if stream else _BEDROCK_INVOKE
        if stream or path.endswith(verb):
            model = path[len(_BEDROCK_PREFIX) : -len(verb)]
            if model:
                return Route(
                    anthropic=True, auth="bedrock", path_model=model, bedrock=True, stream=stream
                )
    return None
