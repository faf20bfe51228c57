"""Facts of chapter 03 (web farm) shared by its config tests and its live checks."""

from __future__ import annotations

# Content types the media site must send for its assets (either JS type is correct).
ASSET_TYPES: dict[str, tuple[str, ...]] = {
    "site.css": ("text/css",),
    "app.js": ("application/javascript", "text/javascript"),
    "logo.svg": ("image/svg+xml",),
    "tile.png": ("image/png",),
}
WEB_ROLES = ("app", "media")

