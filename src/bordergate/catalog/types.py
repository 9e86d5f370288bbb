"""Provenance facts of a concrete deployment: who made the model, and where it runs."""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_VENDOR = "unknown"


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    """Everything the policy may reason about one candidate deployment.

    Strings are "" when unknown (Cedar has no null); `vendor` is "unknown" when the name
    resolves to nothing, so a policy can decide what unknown models get.
    """

    deployment: str
    vendor: str
    vendor_country: str
    model: str
    open_weights: bool
    host: str
    host_country: str
    region: str
    self_hosted: bool
