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
    alert_interval_s: float = 10.0
    """How often the monitor looks at the node and evaluates the alert rules (1 s to 1 h)."""
    alert_rules_max: int = 100
    """Most alert rules (each look costs the same node calls whatever their number; this bounds the page)."""
    alert_history_max: int = 10_000
    """Alert events kept; the oldest are deleted beyond it."""
    alert_page_max: int = 50
    """Alert events on one history page."""
    notify_timeout_s: float = 5.0
    """Longest one webhook or SMTP attempt may take."""
    notify_retries_max: int = 2
    """Attempts after a failed notification (0 to 10)."""
    notify_retry_delay_s: float = 2.0
    """Pause before each retry of a notification (0 to 60 s)."""
    chains_max: int = 32
    """Most chains (local and remote) the console keeps."""
    chain_organisations_max: int = 16
    """Most organisations of a local network the wizard creates (one validator process each, on this host)."""
    chain_verifier_workers: int = 1
    """Signature-verifier processes per node of a network the wizard creates (0 to 64)."""
    chain_scrypt_n: int | None = None
    """scrypt N of the key files the wizard writes (None: the key files' default; tests use 1024)."""
    chain_disk_free_min_bytes: int = 64 * 1024 * 1024
    """Free space the wizard needs in the chains folder before it creates a network."""
    chain_start_timeout_s: float = 60.0
    """How long starting a network's nodes may take (serving, then connected to each other), 1 to 600 s."""
    chain_stop_timeout_s: float = 20.0
    """Seconds after SIGTERM before a node that has not stopped is killed (1 to 600)."""
    chain_certificate_length_max: int = 8192
    """Longest CA certificate (PEM characters) a remote chain may be registered with."""

    contract_source_bytes_max: int = 64 * 1024
    """Largest contract source a deploy form may upload (its request alone may exceed `body_bytes_max`)."""
    arguments_text_length_max: int = 4096
    """Longest JSON argument list (deploy arguments, proposal arguments, list-typed call arguments)."""
    keystore_scrypt_n: int = 2**14
    """Cost of key files the console generates (scrypt N; on sm, PBKDF2-HMAC-SM3 scaled alike); tests use 1024."""
    keys_per_user_max: int = 16
    """Most signing keys one console user may keep."""
    transaction_timeout_s: float = 10.0
    """Longest wait for a sent transaction's receipt (keep it below `request_timeout_s`, which still applies)."""
    contract_history_max: int = 20
    """Transactions sent through the console listed on a contract's page."""
    contracts_listed_max: int = 100
    """Contracts deployed through the console listed on the contracts page."""
    chart_blocks_default: int = 60
    """Blocks the dashboard's live charts show (`/api/chart` without `blocks`)."""
    chart_blocks_max: int = 240
    """Most blocks `/api/chart` answers (and keeps cached per chain): each uncached block is one node call."""
    scf_verify_lookups_per_address_max: int = 20
    """Public voucher checks (/scf/verify, matching or not) one client address may make within
    `scf_verify_window_s`: bounds how fast the voucher number and face value space can be walked."""
    scf_verify_window_s: float = 600.0
    """How long a public voucher check counts against its address (1 s to 1 day)."""

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
            "contract_source_bytes_max",
            "arguments_text_length_max",
            "keys_per_user_max",
            "contract_history_max",
            "contracts_listed_max",
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
        for name in ("request_timeout_s", "node_timeout_s", "transaction_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ConfigError(f"console {name} must be above 0 and at most 3600 seconds, found {value}")
        if not 2**10 <= self.keystore_scrypt_n <= 2**18 or self.keystore_scrypt_n & (self.keystore_scrypt_n - 1):
            raise ConfigError(
                f"console keystore_scrypt_n must be a power of two from 1024 to 262144, found {self.keystore_scrypt_n}"
            )
        if self.node_timeout_s > self.request_timeout_s:
            raise ConfigError("console node_timeout_s must not exceed request_timeout_s")
        self._validate_alerts()
        self._validate_chains()
        self._validate_charts()
        self._validate_scf_verify()

    def _validate_charts(self) -> None:
        if not 1 <= self.chart_blocks_max <= 10_000:
            raise ConfigError(f"console chart_blocks_max must be between 1 and 10,000, found {self.chart_blocks_max}")
        if not 1 <= self.chart_blocks_default <= self.chart_blocks_max:
            raise ConfigError(
                f"console chart_blocks_default must be between 1 and chart_blocks_max ({self.chart_blocks_max}),"
                f" found {self.chart_blocks_default}"
            )

    def _validate_scf_verify(self) -> None:
        if not 1 <= self.scf_verify_lookups_per_address_max <= 1_000_000:
            raise ConfigError(
                "console scf_verify_lookups_per_address_max must be between 1 and 1,000,000, "
                f"found {self.scf_verify_lookups_per_address_max}"
            )
        if not 1 <= self.scf_verify_window_s <= 24 * 3600:
            raise ConfigError(
                f"console scf_verify_window_s must be between 1 s and 1 day, found {self.scf_verify_window_s}"
            )

    def _validate_chains(self) -> None:
        for name, low, high in (
            ("chains_max", 1, 10_000),
            ("chain_organisations_max", 1, 64),
            ("chain_verifier_workers", 0, 64),
            ("chain_disk_free_min_bytes", 0, 1 << 50),
            ("chain_certificate_length_max", 512, 65_536),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"console {name} must be between {low:,} and {high:,}, found {value}")
        if self.chain_scrypt_n is not None and (
            not 1024 <= self.chain_scrypt_n <= 1 << 18 or self.chain_scrypt_n & (self.chain_scrypt_n - 1)
        ):
            raise ConfigError("console chain_scrypt_n must be a power of two from 1024 to 2^18, or None")
        for name in ("chain_start_timeout_s", "chain_stop_timeout_s"):
            value = getattr(self, name)
            if not 1 <= value <= 600:
                raise ConfigError(f"console {name} must be between 1 and 600 seconds, found {value}")

    def _validate_alerts(self) -> None:
        for name in ("alert_rules_max", "alert_history_max", "alert_page_max"):
            value = getattr(self, name)
            if not 1 <= value <= 1_000_000:
                raise ConfigError(f"console {name} must be between 1 and 1,000,000, found {value}")
        if not 1 <= self.alert_interval_s <= 3600:
            raise ConfigError(
                f"console alert_interval_s must be between 1 and 3600 seconds, found {self.alert_interval_s}"
            )
        if not 0 < self.notify_timeout_s <= 60:
            raise ConfigError(
                f"console notify_timeout_s must be above 0 and at most 60 seconds, found {self.notify_timeout_s}"
            )
        if not 0 <= self.notify_retries_max <= 10:
            raise ConfigError(f"console notify_retries_max must be between 0 and 10, found {self.notify_retries_max}")
        if not 0 <= self.notify_retry_delay_s <= 60:
            raise ConfigError(
                f"console notify_retry_delay_s must be between 0 and 60 seconds, found {self.notify_retry_delay_s}"
            )
