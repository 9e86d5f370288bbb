"""Generate docs/config-reference.md from the config models, so the reference cannot drift.

`python scripts/config_reference.py` rewrites the file; a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bordergate.config import Config

OUT = Path(__file__).resolve().parent.parent / "docs" / "config-reference.md"


def _type_name(annotation: Any) -> str:
    text = str(annotation) if getattr(annotation, "__args__", None) else None
    text = text or getattr(annotation, "__name__", None) or str(annotation)
    for noise in (
        "typing.",
        "pathlib.",
        "pydantic.types.",
        "bordergate.identity.config.",
        "bordergate.limits.config.",
        "bordergate.catalog.config.",
        "<class '",
        "'>",
    ):
        text = text.replace(noise, "")
    return text.replace("|", "\\|")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """`#:` / `#` comment lines right above each field in the model's source."""
    try:
        source = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in source:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#:").strip())
            continue
        name = stripped.split(":", 1)[0]
        if pending and name.isidentifier() and name in model.model_fields:
            found[name] = " ".join(pending)
        pending = []
    return found


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{value!r}`" if value not in ({}, []) else "empty"
    return f"`{info.default!r}`"


def _rows(model: type[BaseModel], prefix: str, out: list[str], seen: set[type]) -> None:
    nested: list[tuple[str, type[BaseModel]]] = []
    comments = _comments(model)
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        ann = info.annotation
        sub = _model_in(ann)
        desc = (info.description or comments.get(name) or _doc(sub)).replace("|", "\\|")
        out.append(f"| `{prefix}{name}` | {_type_name(ann)} | {_default(info)} | {desc} |")
        if sub is not None and sub not in seen:
            origin = getattr(ann, "__origin__", None)
            if origin is dict:
                step = f"{name}.NAME."
            elif origin is list:
                step = f"{name}[]."
            else:
                step = f"{name}."
            nested.append((prefix + step, sub))
    for pre, sub in nested:
        seen.add(sub)
        _rows(sub, pre, out, seen)


def _doc(model: type[BaseModel] | None) -> str:
    if model is None or not model.__doc__:
        return ""
    return model.__doc__.strip().split("\n\n")[0].replace("\n", " ")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the configuration models by `scripts/config_reference.py`; a test keeps",
        "it in step with the code. `bordergate config schema` prints the same as a JSON Schema.",
        "Keys of lists and maps (`providers.NAME.*`, `models.NAME.*`) are shown by their",
        "element type. Relative paths are relative to the working directory.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    _rows(Config, "", lines, {Config})
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.exists() and OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
