"""The console's languages: one message catalogue per language, zh-CN first.

Catalogues are JSON files in the package data (``static/i18n/<language>.json``)
with the same keys; `tests/console/test_console_i18n.py` checks they match.
The language is the ``gusu_language`` cookie, else zh-CN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

LANGUAGES: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"
LANGUAGE_COOKIE: Final = "gusu_language"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Catalogue:
    language: str
    messages: Mapping[str, str]

    def get_message(self, key: str, **params: object) -> str:
        """The message `key` with its ``{name}`` placeholders filled; a missing key is a bug."""
        template = self.messages[key]
        return _PLACEHOLDER.sub(lambda match: str(params.get(match.group(1), match.group(0))), template)


def load_catalogues() -> dict[str, Catalogue]:
    folder = resources.files("gusu.console") / "static" / "i18n"
    catalogues: dict[str, Catalogue] = {}
    for language in LANGUAGES:
        messages = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
        assert isinstance(messages, dict) and all(isinstance(value, str) for value in messages.values())
        catalogues[language] = Catalogue(language, messages)
    return catalogues


def get_language(cookie_value: str | None) -> str:
    """The language a cookie names, or the default for a missing or unknown one."""
    return cookie_value if cookie_value in LANGUAGES else DEFAULT_LANGUAGE
