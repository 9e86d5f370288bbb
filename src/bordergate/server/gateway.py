"""The gateway's per-worker state: config, deployments, upstream client, authenticator.

Built once at start-up (and rebuilt on reload); request handlers only read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from bordergate.config import Config
from bordergate.server.auth import Authenticator, build_authenticator
from bordergate.upstream.deployments import Deployment, Provider, build_deployments
from bordergate.upstream.dispatch import Dispatcher

log = logging.getLogger("bordergate.server")


@dataclass
class Gateway:
    """Everything a request handler needs, shared by all requests of one worker."""

    config: Config
    deployments: dict[str, list[Deployment]]
    auth: Authenticator
    session: aiohttp.ClientSession | None = None
    dispatcher: Dispatcher | None = None
    ready: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Gateway:
        deployments = build_deployments(config)
        unavailable = {}
        for name, deps in deployments.items():
            if not deps:
                reasons = {
                    d.provider: config.disabled_providers.get(d.provider, "disabled")
                    for d in config.models[name]
                }
                unavailable[name] = "; ".join(f"provider {p}: {r}" for p, r in reasons.items())
        for name, reason in config.disabled_providers.items():
            log.warning("provider %s is disabled: %s", name, reason)
        return cls(
            config=config,
            deployments={k: v for k, v in deployments.items() if v},
            auth=build_authenticator(config.auth),
            unavailable=unavailable,
        )

    async def start(self) -> None:
        """Open the pooled upstream session (one per worker, as DESIGN.md decides)."""
        connector = aiohttp.TCPConnector(
            limit=max((p.max_connections for p in self._providers()), default=256),
            limit_per_host=0,
            ttl_dns_cache=300,
            enable_cleanup_closed=True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )
        self.dispatcher = Dispatcher(self.session)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self.session is not None:
            await self.session.close()

    def _providers(self) -> list[Provider]:
        seen: dict[str, Provider] = {}
        for deps in self.deployments.values():
            for d in deps:
                seen[d.provider.name] = d.provider
        return list(seen.values())
