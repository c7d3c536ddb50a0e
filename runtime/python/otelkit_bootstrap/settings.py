"""The settings the generator writes for one service (services/<name>.json), read and checked here.

The generator types them on its side (generator/targets/python.ts); this side checks them again, so a
hand-edited or stale file is reported by name instead of half-applied. SCHEMA changes when the shape does.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 2
LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(Exception):
    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str
    project: str
    frontends: tuple[str, ...]
    blocked_keys: tuple[str, ...]
    value_patterns: tuple[Pattern, ...]
    log_level: str
    request_id_max_length: int
    dependencies: tuple[str, ...] = field(default=())
    # resilience.bulkhead.max_concurrent by dependency: the limit bulkhead(dependency) takes by default
    bulkheads: dict[str, int] = field(default_factory=dict)


def _strings(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{where} must be a list of strings")
        return ()
    return tuple(value)


def _string(data: dict[str, Any], key: str, problems: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{key} must be a non-empty string")
        return ""
    return value


def compile_re2(regex: str) -> re.Pattern[str]:
    """The spec's patterns are RE2 (the Collector's syntax); a leading inline-flag group reads the same in Python."""
    return re.compile(regex)


def parse(data: Any, source: str) -> Settings:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise SettingsError(source, ["the settings must be a JSON object"])
    if data.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA} (regenerate with otelkit generate)")
    known = {
        "schema", "service", "environment", "project", "frontends", "redaction", "logLevel",
        "requestIdMaxLength", "dependencies",
        "__generated",  # the header emit writes into JSON files
    }
    for key in sorted(set(data) - known):
        problems.append(f"unknown key {key}")
    redaction = data.get("redaction")
    if not isinstance(redaction, dict):
        problems.append("redaction must be an object with blockedKeys and valuePatterns")
        redaction = {}
    patterns: list[Pattern] = []
    raw_patterns = redaction.get("valuePatterns")
    if not isinstance(raw_patterns, list):
        problems.append("redaction.valuePatterns must be a list")
        raw_patterns = []
    for index, item in enumerate(raw_patterns):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("regex"), str):
            problems.append(f"redaction.valuePatterns[{index}] must have string name and regex")
            continue
        try:
            patterns.append(Pattern(item["name"], compile_re2(item["regex"])))
        except re.error as error:
            # a pattern that does not compile here would let its values through: refuse to start half-redacting
            problems.append(f"redaction.valuePatterns[{index}] ({item['name']}) is not a valid Python regex: {error}")
    level = data.get("logLevel")
    if level == "warn":
        level = "warning"
    if level not in LEVELS:
        problems.append(f"logLevel must be one of {', '.join(LEVELS)}")
        level = "info"
    max_length = data.get("requestIdMaxLength")
    if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= 1024:
        problems.append("requestIdMaxLength must be an integer from 1 to 1024")
        max_length = 128
    dependencies = data.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) for d in dependencies
    ):
        problems.append("dependencies must be a list of objects with a name")
        dependencies = []
    bulkheads: dict[str, int] = {}
    for dependency in dependencies:
        bulkhead = dependency.get("bulkhead")
        if bulkhead is None:
            continue
        limit = bulkhead.get("maxConcurrent") if isinstance(bulkhead, dict) else None
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            problems.append(f"dependencies ({dependency['name']}).bulkhead.maxConcurrent must be an integer of at least 1")
            continue
        bulkheads[dependency["name"]] = limit
    settings = Settings(
        service=_string(data, "service", problems),
        environment=_string(data, "environment", problems),
        project=_string(data, "project", problems),
        frontends=_strings(data.get("frontends"), "frontends", problems),
        blocked_keys=tuple(key.lower() for key in _strings(redaction.get("blockedKeys"), "redaction.blockedKeys", problems)),
        value_patterns=tuple(patterns),
        log_level=str(level),
        request_id_max_length=max_length,
        dependencies=tuple(d["name"] for d in dependencies),
        bulkheads=bulkheads,
    )
    if problems:
        raise SettingsError(source, problems)
    return settings


def settings_path() -> Path:
    """OTELKIT_SETTINGS names the file; else OTELKIT_SERVICE picks services/<name>.json beside this module."""
    explicit = os.environ.get("OTELKIT_SETTINGS")
    if explicit:
        return Path(explicit)
    service = os.environ.get("OTELKIT_SERVICE") or os.environ.get("OTEL_SERVICE_NAME", "")
    return Path(__file__).parent / "services" / f"{service}.json"


def load() -> Settings:
    path = settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(str(path), [f"cannot read the settings ({error.strerror}); set OTELKIT_SERVICE to a generated service"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(str(path), [f"not JSON: {error}"]) from None
    return parse(data, str(path))
