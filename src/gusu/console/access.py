"""Who may use the console: passwords, sessions, login limits and roles.

Passwords are hashed with scrypt (RFC 7914, the standard library's
``hashlib.scrypt``): memory-hard, so guessing on GPUs or ASICs costs memory as
well as time, and no extra native dependency. The stored form records its
parameters (``scrypt$<log2 N>$<r>$<p>$<salt>$<key>``), so they can be raised
later without breaking existing hashes. Comparison is constant-time.

Sessions are server-side records: the cookie holds 32 random bytes, the store
holds only their SHA-256, so a read of the store does not yield a usable
cookie. Each session carries its own CSRF token (synchronizer pattern).
Failed logins are counted per account and per client address in bounded
in-memory tables; over the limit the console answers the same way whether
or not the account exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from gusu.console.store import ROLES
from gusu.errors import ConsoleInputError


class AccessInputError(ConsoleInputError):
    """A refused form value; `key` and `params` name the message in the console's catalogues."""

    def __init__(self, key: str, english: str, **params: object) -> None:
        super().__init__(english)
        self.key = key
        self.params = params


# --- passwords -------------------------------------------------------------------------

SCRYPT_LOG2_N_DEFAULT: Final = 15
"""N = 2^15: with r = 8 one hash needs 128·N·r = 32 MiB of memory and about 0.1 s on one core."""
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SCRYPT_SALT_BYTES: Final = 16
SCRYPT_KEY_BYTES: Final = 32
SCRYPT_MEMORY_MAX_BYTES: Final = 256 * 1024 * 1024
"""Ceiling given to OpenSSL; the largest N accepted (2^20) with r = 8 needs 1 GiB, so 2^18 is the useful top."""
SCRYPT_LOG2_N_RANGE: Final = (10, 18)

PASSWORD_LENGTH_MIN: Final = 12
PASSWORD_LENGTH_MAX: Final = 128
"""Characters; long enough for passphrases, short enough that hashing a hostile one costs nothing extra."""
GENERATED_PASSWORD_BYTES: Final = 15
"""Random bytes of a generated password: 120 bits, 20 URL-safe characters."""

USERNAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}")
USERNAME_RULE: Final = (
    "3 to 32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
)
ORGANISATION_LENGTH_MAX: Final = 64


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=SCRYPT_MEMORY_MAX_BYTES,
        dklen=SCRYPT_KEY_BYTES,
    )


def compute_password_hash(password: str, log2_n: int = SCRYPT_LOG2_N_DEFAULT) -> str:
    """The stored form of `password` with a fresh random salt (slow on purpose: run it off the event loop)."""
    assert SCRYPT_LOG2_N_RANGE[0] <= log2_n <= SCRYPT_LOG2_N_RANGE[1]
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    key = _scrypt(password, salt, log2_n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${log2_n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def is_password_correct(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; a malformed stored hash never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return False
    if not (SCRYPT_LOG2_N_RANGE[0] <= log2_n <= SCRYPT_LOG2_N_RANGE[1] and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), key)


def compute_dummy_hash(log2_n: int) -> str:
    """Checked against when the account does not exist, so a login takes as long either way."""
    return f"scrypt${log2_n}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(SCRYPT_SALT_BYTES))}${_b64(bytes(SCRYPT_KEY_BYTES))}"


def compute_generated_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def validate_password(password: str, username: str) -> None:
    if len(password) < PASSWORD_LENGTH_MIN:
        raise AccessInputError(
            "error.password_short",
            f"the password must have at least {PASSWORD_LENGTH_MIN} characters",
            count=PASSWORD_LENGTH_MIN,
        )
    if len(password) > PASSWORD_LENGTH_MAX:
        raise AccessInputError(
            "error.password_long",
            f"the password must have at most {PASSWORD_LENGTH_MAX} characters",
            count=PASSWORD_LENGTH_MAX,
        )
    if any(unicodedata.category(character) == "Cc" for character in password):
        raise AccessInputError("error.password_control", "the password must not contain control characters")
    if password.casefold() == username.casefold():
        raise AccessInputError("error.password_username", "the password must not be the user name")


def validate_username(username: str) -> None:
    if len(username) > 32:
        raise AccessInputError(
            "error.username_long", f"the user name is too long: at most 32 characters ({USERNAME_RULE})"
        )
    if USERNAME_PATTERN.fullmatch(username) is None:
        raise AccessInputError("error.username_invalid", f"the user name must be {USERNAME_RULE}")


def validate_role(role: str, organisation: str | None) -> None:
    if role not in ROLES:
        raise AccessInputError("error.role_invalid", f"the role must be one of {', '.join(ROLES)}")
    if role == "org_admin":
        if not organisation:
            raise AccessInputError(
                "error.organisation_missing", "an organisation admin needs the name of their organisation"
            )
        if len(organisation) > ORGANISATION_LENGTH_MAX:
            raise AccessInputError(
                "error.organisation_long",
                f"the organisation name must have at most {ORGANISATION_LENGTH_MAX} characters",
                count=ORGANISATION_LENGTH_MAX,
            )
        if any(unicodedata.category(character).startswith("C") for character in organisation):
            raise AccessInputError(
                "error.organisation_control", "the organisation name must not contain control characters"
            )
    elif organisation:
        raise AccessInputError(
            "error.organisation_unexpected", "only an organisation admin is bound to an organisation"
        )


# --- roles -----------------------------------------------------------------------------

PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "users.manage": frozenset({"operator"}),
    "audit.read": frozenset({"operator", "auditor"}),
    "account.own": frozenset(ROLES),
}
"""What each role may do; a route names the permission it needs (docs/console.md)."""


def is_allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


# --- sessions ----------------------------------------------------------------------------

SESSION_COOKIE: Final = "gusu_session"
LOGIN_CSRF_COOKIE: Final = "gusu_login_csrf"
SESSION_ID_BYTES: Final = 32
CSRF_TOKEN_BYTES: Final = 32
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie_value: str
    session_hash: str
    csrf_token: str


def compute_session_hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()


def compute_new_session() -> NewSession:
    cookie_value = _b64(secrets.token_bytes(SESSION_ID_BYTES))
    return NewSession(cookie_value, compute_session_hash(cookie_value), _b64(secrets.token_bytes(CSRF_TOKEN_BYTES)))


def compute_csrf_token() -> str:
    return _b64(secrets.token_bytes(CSRF_TOKEN_BYTES))


def is_token_equal(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def is_session_current(created_ms: int, last_seen_ms: int, now_ms: int, idle_s: float, absolute_s: float) -> bool:
    return now_ms - last_seen_ms <= idle_s * 1000 and now_ms - created_ms <= absolute_s * 1000


# --- login limits ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginLimits:
    failures_per_account_max: int = 5
    """Failed logins for one user name within the window before that name is locked."""
    failures_per_address_max: int = 20
    """Failed logins from one client address within the window before that address is locked."""
    window_s: float = 15 * 60
    """How long a failure counts (and so how long a lockout lasts at most)."""
    entries_max: int = 10_000
    """Most names and addresses tracked; the least recently failed are forgotten first."""


class LoginLimiter:
    """Counts failed logins per key ("account:<name>", "address:<ip>") in a bounded table of timestamps."""

    def __init__(self, limits: LoginLimits) -> None:
        self.limits = limits
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str, now_s: float) -> list[float]:
        times = [moment for moment in self._failures.get(key, []) if now_s - moment < self.limits.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def is_locked(self, username: str, address: str, now_s: float) -> bool:
        return (
            len(self._recent("account:" + username, now_s)) >= self.limits.failures_per_account_max
            or len(self._recent("address:" + address, now_s)) >= self.limits.failures_per_address_max
        )

    def on_failure(self, username: str, address: str, now_s: float) -> None:
        for key, maximum in (
            ("account:" + username, self.limits.failures_per_account_max),
            ("address:" + address, self.limits.failures_per_address_max),
        ):
            times = self._recent(key, now_s)
            times.append(now_s)
            self._failures[key] = times[-maximum:]
            self._failures.move_to_end(key)
        while len(self._failures) > self.limits.entries_max:
            self._failures.popitem(last=False)

    def on_success(self, username: str) -> None:
        self._failures.pop("account:" + username, None)

    def get_entry_count(self) -> int:
        return len(self._failures)
