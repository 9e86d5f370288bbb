"""The gateway's per-worker state, built once from config: every part a request passes through.

Request handlers only read it. Parts that need the running event loop (upstream session,
limiter, revocation watcher, audit writer) are opened in `start()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bordergate.audit.service import AuditLog
from bordergate.catalog.catalog import Catalog
from bordergate.catalog.types import DeploymentFacts
from bordergate.config import Config
from bordergate.dlp.fingerprint import FingerprintDetector, FingerprintIndex
from bordergate.dlp.scanner import Scanner
from bordergate.identity.admin import AdminApi
from bordergate.identity.auth import Authenticator
from bordergate.identity.config import with_server_secret
from bordergate.limits import Limiter, build_limiter
from bordergate.policy.engine import PolicyEngine
from bordergate.policy.store import PolicyStore
from bordergate.server.asgi import BodyWatch
from bordergate.upstream.breaker import Breaker, Breakers
from bordergate.upstream.deployments import (
    Deployment,
    Provider,
    build_deployments,
    cross_region_note,
)
from bordergate.upstream.dispatch import Dispatcher

log = logging.getLogger("bordergate.server")


def _check_cloud_models(deployments: dict[str, list[Deployment]]) -> None:
    """Bedrock and Vertex are spoken to in Anthropic's Messages format: refuse other makers'
    models at start-up (they would fail on every request with the provider's 400)."""
    for name, deps in deployments.items():
        for dep in deps:
            vendor = dep.facts.vendor if dep.facts is not None else "unknown"
            if dep.provider.kind in ("bedrock", "vertex") and vendor not in (
                "anthropic",
                "unknown",
            ):
                raise ValueError(
                    f"models.{name}: {dep.upstream_model!r} on provider {dep.provider.name} is a "
                    f"{vendor} model; kind: {dep.provider.kind} serves Anthropic models (the "
                    "Messages API); other models there need their own API, not supported yet"
                )


def _start_up_notes(deployments: dict[str, list[Deployment]]) -> None:
    """Say where cloud credentials come from, and which deployments may leave their region."""
    for deps in deployments.values():
        for dep in deps:
            note = cross_region_note(dep.provider.kind, dep.upstream_model, dep.region)
            if note:
                log.warning("deployment %s: %s", dep.id, note)
    for note in credential_notes(deployments):
        log.info("%s", note)


def credential_notes(deployments: dict[str, list[Deployment]]) -> list[str]:
    """Where each cloud provider's credentials will come from (start-up log, `config check`).

    Said up front because the chains pick a source by what the machine offers: a laptop
    without `~/.aws` or a gcloud login falls through to a cloud's metadata service.
    """
    notes = []
    providers = {d.provider.name: d.provider for deps in deployments.values() for d in deps}
    for name, provider in providers.items():
        if provider.aws_chain is not None:
            notes.append(f"provider {name}: AWS credentials from {provider.aws_chain.where}")
        if provider.token_source is not None:
            where = provider.token_source.where
            notes.append(f"provider {name}: Google access tokens from {where}")
    return notes


@dataclass
class Gateway:
    """Everything a request handler needs, shared by all requests of one worker."""

    config: Config
    catalog: Catalog
    deployments: dict[str, list[Deployment]]
    policy: PolicyStore | None
    scanner: Scanner | None
    unavailable: dict[str, str] = field(default_factory=dict)
    auth: Authenticator | None = None
    admin: AdminApi | None = None
    limiter: Limiter | None = None
    audit: AuditLog | None = None
    session: aiohttp.ClientSession | None = None
    dispatcher: Dispatcher | None = None
    #: Per-deployment circuit breakers (this worker's view of which deployments are failing).
    breakers: Breakers = field(default_factory=Breakers)
    ready: bool = False
    redactable: frozenset[str] = frozenset()
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Times out request bodies that stop arriving (`server.body_timeout_s`); swept from start().
    body_watch: BodyWatch | None = None

    @classmethod
    def from_config(cls, config: Config) -> Gateway:
        """Build the pure parts; raises (PolicyError, ValueError, OSError) if they are unusable."""
        catalog = Catalog.load(config.catalog)
        deployments = build_deployments(config, catalog)
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
        _check_cloud_models(deployments)
        _start_up_notes(deployments)
        policy = None
        if config.policy.files:
            policy = PolicyStore(config.policy.files)
            log.info("policy loaded from %s", ", ".join(config.policy.files))
        else:
            log.warning("no policy.files configured: every caller may use every configured model")
        scanner = None
        if config.dlp.enabled:
            fingerprints = None
            if config.dlp.fingerprint_index:
                index = FingerprintIndex.load(Path(config.dlp.fingerprint_index))
                fingerprints = FingerprintDetector(index, config.dlp.internal_code_min_matches)
            scanner = Scanner.from_config(config.dlp, fingerprint_detector=fingerprints)
        return cls(
            config=config,
            catalog=catalog,
            deployments={k: v for k, v in deployments.items() if v},
            policy=policy,
            scanner=scanner,
            unavailable=unavailable,
            redactable=frozenset(config.dlp.redactable_classes),
        )

    @property
    def engine(self) -> PolicyEngine | None:
        """The current policy engine: read once per request, so a reload never splits one."""
        return self.policy.engine if self.policy is not None else None

    def breaker(self, dep: Deployment) -> Breaker:
        """The circuit breaker of `dep`, with its provider's thresholds."""
        return self.breakers.get(dep.id, dep.provider.breaker)

    def deployment_health(self) -> dict[str, Any]:
        """`GET /admin/deployments`: each deployment's circuit breaker, as this worker sees it."""
        ids = sorted({d.id for deps in self.deployments.values() for d in deps})
        return {
            "worker_pid": os.getpid(),
            "deployments": self.breakers.snapshot(time.monotonic(), ids),
        }

    def facts_by_name(self) -> dict[str, list[DeploymentFacts]]:
        return {
            name: [d.facts for d in deps if d.facts is not None]
            for name, deps in self.deployments.items()
        }

    async def start(self) -> None:
        """Open what needs the loop: upstream pool, identity, limits, audit, reload watchers."""
        cfg = self.config
        if cfg.auth.mode == "none":
            log.warning(
                "auth.mode is 'none': the gateway accepts requests WITHOUT a credential. "
                "Use this only on a trusted network."
            )
        else:
            identity_cfg = await asyncio.to_thread(with_server_secret, cfg.identity)
            self.auth = await asyncio.to_thread(Authenticator.from_config, identity_cfg)
            await self.auth.start()
            if self.auth.store is not None and (
                identity_cfg.admin_key or identity_cfg.admin_key_sha256
            ):
                views = {"/admin/deployments": self.deployment_health}
                self.admin = AdminApi(identity_cfg, self.auth.store, views)
            if not identity_cfg.static_keys and self.auth.store is None and not identity_cfg.jwt:
                log.warning(
                    "no credential source configured (identity.static_keys, server_secret for "
                    "virtual keys, or jwt): every request gets 401"
                )
        self.limiter = build_limiter(cfg.limits)
        self.audit = await asyncio.to_thread(AuditLog.open, cfg.audit)
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
        self.body_watch = BodyWatch(cfg.server.body_timeout_s)
        self._tasks.append(asyncio.create_task(self.body_watch.run()))
        if self.policy is not None:
            self._install_reload()
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        if self.session is not None:
            await self.session.close()
        if self.limiter is not None:
            await self.limiter.close()
        if self.auth is not None:
            await self.auth.close()
        if self.audit is not None:
            await self.audit.close()

    def reload_policy(self, why: str) -> bool:
        """Swap in the policy files' current content; an invalid policy keeps the old one."""
        if self.policy is None:
            return False
        ok, message = self.policy.reload()
        (log.info if ok else log.error)("%s: %s", why, message)
        return ok

    def _install_reload(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload_policy, "SIGHUP")
        except (NotImplementedError, RuntimeError, ValueError):
            log.info("SIGHUP reload unavailable in this process")
        if self.config.policy.watch:
            self._tasks.append(asyncio.create_task(self._watch_policy_files()))

    async def _watch_policy_files(self) -> None:
        """Poll the policy files' contents; reload when one changes.

        Contents, not modification times: a file rewritten within the same timestamp tick
        (or restored with its old mtime) changes too. Policy files are small.
        """
        assert self.policy is not None

        def stamp() -> tuple[bytes, ...]:
            out = []
            for path in self.policy.paths if self.policy else ():
                try:
                    with open(path, "rb") as f:
                        out.append(hashlib.blake2b(f.read(), digest_size=16).digest())
                except OSError:
                    out.append(b"")
            return tuple(out)

        last = stamp()
        while True:
            await asyncio.sleep(self.config.policy.watch_interval_s)
            now = stamp()
            if now != last:
                last = now
                self.reload_policy("policy file changed")

    def _providers(self) -> list[Provider]:
        seen: dict[str, Provider] = {}
        for deps in self.deployments.values():
            for d in deps:
                seen[d.provider.name] = d.provider
        return list(seen.values())
