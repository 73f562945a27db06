"""The console server's settings: where it listens, which node it reads, and its limits."""

from __future__ import annotations

from dataclasses import dataclass

from gusu.errors import ConfigError

DEFAULT_ENDPOINT = "http://127.0.0.1:8545"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """Every limit of the console server, with a default that suits one operator's browser."""

    endpoint: str = DEFAULT_ENDPOINT
    """The node's API base URL (JSON-RPC at ``/rpc``)."""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    """0 picks a free port (tests)."""
    body_bytes_max: int = 16 * 1024
    """Largest request body: the console's forms are tiny, files never leave the browser."""
    query_length_max: int = 256
    """Longest search query or path parameter accepted."""
    request_timeout_s: float = 15.0
    """Longest a console request may take, node calls included (answered 504 after)."""
    node_timeout_s: float = 5.0
    """Longest wait for one node call."""
    blocks_page_max: int = 50
    """Most blocks on one explorer page (each is one node call)."""
    recent_blocks_count: int = 20
    """Blocks shown on the dashboard and used for its TPS."""
    account_page_max: int = 50
    """Most transactions of an account listed on one page."""
    database: str | None = None
    """The metadata store: None for SQLite in `data_directory`, or a ``postgresql://`` URL."""
    data_directory: str = "console-data"
    """Folder of the SQLite store (``gusu console`` uses ``$GUSU_HOME/console``)."""
    session_idle_s: float = 30 * 60
    """A session unused this long ends."""
    session_absolute_s: float = 12 * 3600
    """A session ends this long after login, used or not."""
    scrypt_log2_n: int = 15
    """scrypt cost of new password hashes: N = 2^15 (32 MiB, ~0.1 s); 10 to 18 (tests use 10)."""
    login_failures_per_account_max: int = 5
    """Failed logins for one user name within `login_window_s` before it is locked."""
    login_failures_per_address_max: int = 20
    """Failed logins from one client address within `login_window_s` before it is locked."""
    login_window_s: float = 15 * 60
    """How long a failed login counts."""
    login_table_entries_max: int = 10_000
    """Most user names and addresses the login limiter remembers (least recent forgotten first)."""
    audit_page_max: int = 50
    """Audit log entries on one page."""
    form_field_length_max: int = 256
    """Longest value of any form field (user name, password, organisation): longer is refused with a message."""

    def __post_init__(self) -> None:
        if not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"console endpoint must be an http:// or https:// URL, found {self.endpoint!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"console port must be between 0 and 65535, found {self.port}")
        for name in (
            "body_bytes_max",
            "query_length_max",
            "blocks_page_max",
            "recent_blocks_count",
            "account_page_max",
            "login_failures_per_account_max",
            "login_failures_per_address_max",
            "login_table_entries_max",
            "audit_page_max",
            "form_field_length_max",
        ):
            value = getattr(self, name)
            if not 1 <= value <= 1_000_000:
                raise ConfigError(f"console {name} must be between 1 and 1,000,000, found {value}")
        if not 10 <= self.scrypt_log2_n <= 18:
            raise ConfigError(f"console scrypt_log2_n must be between 10 and 18, found {self.scrypt_log2_n}")
        if self.database is not None and not self.database.startswith(("postgresql://", "postgres://")):
            raise ConfigError("console database must be a postgresql:// URL, or None for SQLite")
        for name in ("session_idle_s", "session_absolute_s", "login_window_s"):
            value = getattr(self, name)
            if not 1 <= value <= 30 * 24 * 3600:
                raise ConfigError(f"console {name} must be between 1 second and 30 days, found {value}")
        for name in ("request_timeout_s", "node_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ConfigError(f"console {name} must be above 0 and at most 3600 seconds, found {value}")
        if self.node_timeout_s > self.request_timeout_s:
            raise ConfigError("console node_timeout_s must not exceed request_timeout_s")
