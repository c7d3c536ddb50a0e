"""Redaction at the source, the same rules as the Node preload's: values under blocked keys, `key=value`
pairs of blocked keys inside free text, and substrings matching the spec's value patterns are replaced
before a log line is printed or a span or log record is exported. The Collector repeats this."""

from __future__ import annotations

import re
from typing import Any

from .settings import Pattern

REDACTED = "[REDACTED]"
_MAX_DEPTH = 8


class Redactor:
    def __init__(self, blocked_keys: tuple[str, ...], patterns: tuple[Pattern, ...]) -> None:
        self._blocked = frozenset(key.lower() for key in blocked_keys)
        self._patterns = patterns
        names = "|".join(re.escape(key) for key in sorted(self._blocked, key=len, reverse=True))
        # `password=hunter2`, `"token": "abc"` and `?api_key=...` inside free text or URLs
        self._key_value = (
            re.compile(rf"((?:{names})[\"']?\s*[=:]\s*[\"']?)(?:bearer\s+|basic\s+)?[^\s&\"',;}}]+", re.IGNORECASE)
            if names
            else None
        )
        self._verdicts: dict[str, bool] = {}

    def is_blocked_key(self, key: str) -> bool:
        known = self._verdicts.get(key)
        if known is not None:
            return known
        lower = key.lower()
        # dotted or prefixed names: http.request.header.authorization, db_password, x-session_id
        last = lower.rsplit(".", 1)[-1]
        verdict = lower in self._blocked or last in self._blocked or any(
            last.endswith(name) and last[-len(name) - 1 : -len(name)] in ("_", "-") for name in self._blocked
        )
        if len(self._verdicts) < 10_000:
            self._verdicts[key] = verdict
        return verdict

    def text(self, value: str) -> str:
        out = value
        if self._key_value is not None:
            out = self._key_value.sub(lambda m: m.group(1) + REDACTED, out)
        for pattern in self._patterns:
            out = pattern.regex.sub(f"[REDACTED:{pattern.name}]", out)
        return out

    def data(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if depth > _MAX_DEPTH or value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, dict):
            return {
                key: REDACTED if isinstance(key, str) and self.is_blocked_key(key) else self.data(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.data(item, depth + 1) for item in value]
        if isinstance(value, (bytes, bytearray)):
            return self.text(bytes(value).decode("utf-8", "replace"))
        # anything else is printed by its text, which may carry secrets too
        return self.text(str(value))

    def value(self, key: str, value: Any) -> Any:
        return REDACTED if self.is_blocked_key(key) else self.data(value)
