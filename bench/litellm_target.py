"""LiteLLM's proxy as the benchmark's peer: a pinned install in its own virtualenv, its config.

Why its own virtualenv: LiteLLM pulls in hundreds of packages (and pins some of ours), so it must
never touch the project's environment. Why these exact steps: see
``shared/notes/litellm-on-this-machine.md`` -- 1.108.7 is the newest release installable from the
registry here, it needs a ``certifi`` override, and ``httptools`` + ``opentelemetry-sdk`` give it
its best case (without them uvicorn falls back to h11 and LiteLLM re-imports telemetry per
request), so the comparison is fair to it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LITELLM_VERSION = "1.108.7"
CERTIFI_OVERRIDE = "certifi==2026.10.18"
EXTRA_PACKAGES = ("httptools", "opentelemetry-sdk")

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".litellm-venv"
STAMP = VENV_DIR / f".installed-{LITELLM_VERSION}"
# Inside the (git-ignored) venv directory, so it survives the run for diagnosis.
INSTALL_LOG = VENV_DIR / "install.log"

# *.pth files that a clean install of litellm[proxy] and its dependencies is known to ship.
# Anything else runs code at every interpreter start and is reported (supply-chain check).
EXPECTED_PTH_PREFIXES = (
    "distutils-precedence",
    "_virtualenv",
    "__editable__",
    "google_",
    "protobuf",
)

ENV = {
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "DISABLE_SCHEMA_UPDATE": "true",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
}


@dataclass
class InstallResult:
    """Outcome of ensuring the LiteLLM virtualenv; ``error`` is set when it cannot be used."""

    ok: bool
    error: str | None = None
    unexpected_pth: tuple[str, ...] = ()
    installed_now: bool = False


def litellm_bin() -> Path:
    """Path of the ``litellm`` console script inside the private virtualenv."""
    return VENV_DIR / "bin" / "litellm"


def find_pth_files(venv: Path) -> list[str]:
    """Every ``*.pth`` file in the venv's site-packages (they execute code at start-up)."""
    return sorted(p.name for p in venv.glob("lib/python*/site-packages/*.pth"))


def unexpected_pth(names: list[str]) -> tuple[str, ...]:
    """The ``*.pth`` names not explained by a known, benign package."""
    return tuple(n for n in names if not n.startswith(EXPECTED_PTH_PREFIXES))


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, timeout=1800)


def ensure_installed(log: Path = INSTALL_LOG, python: str = sys.executable) -> InstallResult:
    """Install ``litellm[proxy]`` once into ``bench/.litellm-venv``; later runs reuse it.

    The stamp file is written only after a complete install, so an interrupted install is
    retried next time instead of leaving a half-built venv that looks ready.
    """
    if STAMP.exists() and litellm_bin().exists():
        return InstallResult(ok=True, unexpected_pth=unexpected_pth(find_pth_files(VENV_DIR)))
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not (VENV_DIR / "bin" / "python").exists():
            _run([python, "-m", "venv", str(VENV_DIR)], log)
        vpy = str(VENV_DIR / "bin" / "python")
        _run([vpy, "-m", "pip", "install", "-q", "uv"], log)
        overrides = VENV_DIR / "overrides.txt"
        overrides.write_text(CERTIFI_OVERRIDE + "\n")
        uv = str(VENV_DIR / "bin" / "uv")
        _run(
            [
                uv,
                "pip",
                "install",
                "--python",
                vpy,
                "--override",
                str(overrides),
                f"litellm[proxy]=={LITELLM_VERSION}",
                *EXTRA_PACKAGES,
            ],
            log,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        try:
            tail = " / ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        except OSError:
            tail = ""
        return InstallResult(ok=False, error=f"install failed ({exc}): {tail} (log: {log})")
    if not litellm_bin().exists():
        return InstallResult(ok=False, error=f"install finished but no litellm script; see {log}")
    STAMP.write_text(LITELLM_VERSION + "\n")
    return InstallResult(
        ok=True, unexpected_pth=unexpected_pth(find_pth_files(VENV_DIR)), installed_now=True
    )


def config_text(upstream_port: int, master_key: str, models: dict[str, str]) -> str:
    """The minimal LiteLLM config from the notes, pointed at the shared upstream.

    ``models`` maps the names clients ask for to upstream model names (the SSE one carries the
    upstream's ``@chunks=N`` knob, which LiteLLM passes through after the ``openai/`` prefix).
    """
    entries = "".join(
        f"  - model_name: {name}\n"
        f'    litellm_params: {{model: "openai/{upstream}", '
        f"api_base: http://127.0.0.1:{upstream_port}/v1, api_key: sk-mock}}\n"
        for name, upstream in models.items()
    )
    return (
        "model_list:\n"
        + entries
        + "litellm_settings: {callbacks: [], num_retries: 0, request_timeout: 600, "
        "telemetry: false, drop_params: true, set_verbose: false}\n"
        f"general_settings: {{master_key: {master_key}}}\n"
    )


def new_master_key() -> str:
    """A random master key: LiteLLM refuses to start without one."""
    return "sk-" + secrets.token_hex(16)


def command(config: Path, port: int) -> list[str]:
    """The command line that starts one LiteLLM proxy worker."""
    return [
        str(litellm_bin()),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]


def environment() -> dict[str, str]:
    """Process environment for LiteLLM: quiet, offline cost map, no docs, no telemetry."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(ENV)
    return env
