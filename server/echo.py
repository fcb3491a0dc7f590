"""Request values quoted in error messages, capped in length.

A status message travels in gRPC trailers, which clients cap (8 KiB by default): a message
that echoes a 7,000-character name in full turns the intended status into
RESOURCE_EXHAUSTED on the client. Every request value an error names goes through
:func:`shown`; :data:`MAX_MESSAGE_CHARS` caps a whole message as a last line of defence.
"""

from __future__ import annotations

MAX_SHOWN_CHARS = 80
MAX_MESSAGE_CHARS = 1000
ELLIPSIS = "…"


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters plus an ellipsis and the full length."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} chars)" if isinstance(value, str) else ""
    return f"{text[:limit]}{ELLIPSIS}{size}"


def capped(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters (with an ellipsis) so it fits in trailers."""
    return message if len(message) <= limit else message[:limit] + ELLIPSIS
