"""The message catalogues: the same keys and placeholders in every language, and every key the pages use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gusu.console.access import PERMISSIONS
from gusu.console.contracts import TEMPLATE_MESSAGES
from gusu.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, get_language, load_catalogues
from gusu.console.signing import AUDIT_ACTIONS
from gusu.console.store import ROLES

STATIC = Path(__file__).resolve().parents[2] / "src" / "gusu" / "console" / "static"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def test_every_language_has_the_same_keys() -> None:
    catalogues = load_catalogues()
    reference = set(catalogues[DEFAULT_LANGUAGE].messages)
    for language in LANGUAGES:
        keys = set(catalogues[language].messages)
        assert keys == reference, f"{language}: missing {reference - keys}, extra {keys - reference}"


def test_placeholders_match_and_no_message_is_empty() -> None:
    catalogues = load_catalogues()
    for key, chinese in catalogues["zh-CN"].messages.items():
        english = catalogues["en"].messages[key]
        assert chinese.strip() and english.strip(), key
        assert set(_PLACEHOLDER.findall(chinese)) == set(_PLACEHOLDER.findall(english)), key


def test_chinese_is_chinese() -> None:
    """A zh-CN message left in English is an untranslated string (names of languages and brands aside)."""
    catalogues = load_catalogues()
    untranslated = [
        key
        for key, text in catalogues["zh-CN"].messages.items()
        if not re.search(r"[\u4e00-\u9fff]", text) and key not in ("language.en",)
    ]
    assert untranslated == []


def test_every_key_used_exists_and_every_key_is_used() -> None:
    messages = load_catalogues()[DEFAULT_LANGUAGE].messages
    prefixes = {key.split(".")[0] for key in messages}
    sources = "".join(path.read_text(encoding="utf-8") for path in sorted(STATIC.glob("*.js"))) + "".join(
        path.read_text(encoding="utf-8") for path in sorted(STATIC.parent.glob("*.py"))
    )
    literals = set(re.findall(r"""["']([a-z_]+\.[a-z_.]+)["']""", sources))
    used = {
        literal
        for literal in literals
        if literal.split(".")[0] in prefixes and not literal.endswith((".", ".js", ".css", ".svg"))
    }
    # Keys built at run time: statuses and language names.
    used |= {f"tx.status.{status}" for status in ("pending", "committed", "dropped")}
    used |= {f"receipt.status.{status}" for status in ("success", "failed")}
    used |= {f"language.{language}" for language in LANGUAGES}
    used -= set(PERMISSIONS) | AUDIT_ACTIONS  # permission and audit action names, not messages
    # Roles and the users page's enable/disable buttons.
    used |= {f"role.{role}" for role in ROLES} | {"users.enable", "users.disable"}
    # The devkit's templates, each described in the catalogues.
    used |= set(TEMPLATE_MESSAGES.values())
    assert sorted(used - set(messages)) == [], "keys used but missing from the catalogues"
    assert sorted(set(messages) - used) == [], "keys no page uses"


@pytest.mark.parametrize(("cookie", "language"), [(None, "zh-CN"), ("en", "en"), ("zh-CN", "zh-CN"), ("fr", "zh-CN")])
def test_language_from_cookie(cookie: str | None, language: str) -> None:
    assert get_language(cookie) == language


def test_every_devkit_template_is_described() -> None:
    from gusu.devkit.templates import TEMPLATES

    assert set(TEMPLATE_MESSAGES) == set(TEMPLATES)
