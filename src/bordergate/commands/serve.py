"""`bordergate serve`: run the gateway with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from bordergate.config import ConfigError, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--config", required=True, help="gateway YAML file")
    p.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: server.port, 4000)")
    p.add_argument("--workers", type=int, help="worker processes (default: server.workers, 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bordergate.server.app import CONFIG_ENV, App, build_gateway

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"bordergate: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    workers = args.workers or config.server.workers
    level = config.server.log_level
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        gateway = build_gateway(config, args.config)  # fail here, not inside uvicorn
    except ConfigError as exc:
        print(f"bordergate: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    common: dict[str, Any] = dict(
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # uvicorn's own lines at info are few (start-up, "Uvicorn running on ...", shutdown):
        # the ready line is worth having; the access log stays off.
        log_level=level,
        timeout_keep_alive=30,
        server_header=False,
        # The gateway never uses the client's address (identity comes from the credential),
        # so uvicorn's X-Forwarded-For rewriting is skipped: one middleware less per request.
        proxy_headers=False,
    )
    if workers > 1:
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
        uvicorn.run(
            "bordergate.server.app:create_app_from_env", factory=True, workers=workers, **common
        )
    else:
        uvicorn.run(App(config, gateway), **common)
    return 0
