"""YAML loading with line numbers and `${ENV}` interpolation, for errors that name file and line.

PyYAML's composed node tree keeps marks; we build plain Python data from it and remember the
line of every key path, so a validation error on `providers.openai.base_url` can say
`bordergate.yaml:12`. Interpolation happens here too, so a missing variable is reported with the
path and line that asked for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedYaml:
    """Plain data plus where each key path came from and which env variables were missing."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    missing_env: list[tuple[Path_, str]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int | None:
        """Line (1-based) of the deepest known prefix of `path`."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


class YamlError(ValueError):
    """The file is not valid YAML; the message carries file and line."""


def interpolate(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Replace `${VAR}` and `${VAR:-default}`; names of unset variables go to `missing`."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            missing.append(name)
            return ""
        return value

    return _ENV.sub(sub, text)


def load_yaml(text: str, filename: str, env: Mapping[str, str] | None = None) -> LoadedYaml:
    """Parse YAML text into data with line numbers and env interpolation applied to strings."""
    env = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"{where}: invalid YAML: {problem}") from None
    out = LoadedYaml(data=None)
    constructor = yaml.SafeLoader("")

    def build(n: yaml.Node, path: Path_) -> Any:
        out.lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key, (key_node, value_node) in entries(n).items():
                result[key] = build(value_node, (*path, key))
                out.lines[(*path, key)] = key_node.start_mark.line + 1
            return result
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*path, i)) for i, v in enumerate(n.value)]
        value = constructor.construct_object(n)
        if isinstance(value, str) and "${" in value:
            missing: list[str] = []
            value = interpolate(value, env, missing)
            out.missing_env.extend((path, name) for name in missing)
        return value

    def entries(n: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping's (key, value) nodes with merge keys (`<<: *defaults`) expanded.

        Keys written out win over merged ones, and of several merged mappings
        (`<<: [*a, *b]`) the first listed wins, as YAML's merge key type specifies. Values are
        built only where they end up, so an overridden `${VAR}` is never reported missing.
        """
        explicit: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in n.value:
            if key_node.tag != _MERGE_TAG:
                explicit[str(constructor.construct_object(key_node))] = (key_node, value_node)
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    where = f"{filename}:{source.start_mark.line + 1}"
                    raise YamlError(f"{where}: a merge key (<<) takes a mapping or a list of them")
                for key, pair in entries(source).items():
                    merged.setdefault(key, pair)
        return {**merged, **explicit}

    out.data = build(node, ()) if node is not None else {}
    return out
