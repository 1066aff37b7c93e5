"""Process settings, read from `JOURNEYS_*` environment variables."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".journeys")
DATABASE_FILE = "journeys.db"


def database_url(data_dir: Path) -> str:
    """JOURNEYS_DATABASE_URL if set, else the SQLite file `journeys dev --data-dir` keeps:
    one rule for every command."""
    sqlite = f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}"
    return os.environ.get("JOURNEYS_DATABASE_URL") or sqlite


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / DATABASE_FILE}"
    # Longest wait for a database connection (or SQLite's write lock), and for one statement:
    # past them a request answers 503 and an activity is retried, rather than queueing.
    database_timeout_seconds: float = 5.0
    database_statement_timeout_seconds: float = 10.0
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    # TLS to the Temporal frontend: on for Temporal Cloud and any cluster behind TLS. The CA
    # file is for a private CA; the cert and key files for mTLS (a Cloud namespace's
    # certificate). An API key (Temporal Cloud) turns TLS on by itself.
    temporal_tls: bool = False
    temporal_tls_ca_file: str | None = None
    temporal_tls_cert_file: str | None = None
    temporal_tls_key_file: str | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    task_queue: str = "journeys"
    # How often every waiting `wait_for_condition` is re-checked, centrally (one query per
    # distinct condition: `orchestration.waking`).
    condition_poll_seconds: int = Field(default=300, ge=1)
    # How often a waiting execution checks by itself, in case a wake-up was lost: each
    # check costs it about 11 history events.
    wait_safety_seconds: int = Field(default=7 * 86_400, ge=1)
    # Activities one worker runs at once; its database pool is sized to match, so a send
    # never waits for a connection between the provider's answer and recording it.
    worker_activities: int = 50
    # Database connections an API process keeps (as many again are opened at peaks). A
    # request holds up to two at once (`POST /events` reads before it writes).
    api_database_connections: int = Field(default=20, ge=1)
    # Executions a worker keeps in memory between their steps; beyond it the least recently
    # used one is dropped and replayed from its history when its next step comes. Bounds the
    # worker's memory however many executions are running.
    worker_cached_workflows: int = 250
    # How long a step keeps retrying an outage or an unexpected error before it fails (and
    # with it the execution). A provider still down at the end fails the message.
    step_retry_budget_seconds: int = 86_400
    # History events after which an execution continues as new (its history starts afresh).
    history_limit: int = 2_000
    # A manual run's fan-out reads this many targeted customers per activity, and starts
    # their executions this many at a time (each start is one RPC to Temporal).
    run_page_size: int = 1_000
    run_concurrency: int = 32
    # A provider's whole answer to one send (connect, TLS, login, hand-over) must come within
    # this; the send's claim on its message, and so the wait before a send lost with its
    # worker is tried again, lasts about this plus 30 s (`activities.delivery.SendTiming`).
    send_deadline_seconds: float = Field(default=30.0, gt=0, le=60)
    # Larger than any journey body; sized for `POST /customers/import` of 10 000 customers.
    max_body_bytes: int = 16 * 1024 * 1024

    # Delivery channels (`activities.channels`). Every channel defaults to the outbox, which
    # contacts nothing, so `journeys dev` never mails a real customer by accident.
    email_provider: Literal["smtp", "outbox"] = "outbox"
    sms_provider: Literal["twilio", "webhook", "outbox"] = "outbox"
    push_provider: Literal["fcm", "webhook", "outbox"] = "outbox"

    smtp_host: str | None = None
    # None: the port that goes with `smtp_security` (25 none, 587 starttls, 465 tls).
    smtp_port: int | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # A PEM bundle for relays whose certificate is signed by a private CA.
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = 30.0
    # `noreply@example.com` or `Example Rewards <noreply@example.com>`.
    email_from: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # A Twilio number in E.164, or set the messaging service instead (it picks the sender).
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str = "https://api.twilio.com"

    # The project defaults to the service account's own `project_id`.
    fcm_project_id: str | None = None
    fcm_service_account_file: str | None = None
    # A ready OAuth access token instead of a service account (it expires within the hour).
    fcm_access_token: SecretStr | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"

    sms_webhook_url: str | None = None
    push_webhook_url: str | None = None
    # When set, webhook bodies are signed: `X-Journeys-Signature: sha256=<hex HMAC>`.
    webhook_secret: SecretStr | None = None

    # Where people and mail clients reach this service (`https://journeys.example.com`):
    # the base of the unsubscribe links in marketing emails, and the URL Twilio signs its
    # inbound webhooks with. `journeys dev` sets its own address.
    public_url: str | None = None
    # Signs unsubscribe links (HMAC-SHA256). To rotate: move the current secret to
    # `unsubscribe_previous_secret` and set a new one; links signed with either still work.
    unsubscribe_secret: SecretStr | None = None
    unsubscribe_previous_secret: SecretStr | None = None

    # Per request to an HTTP provider (Twilio, FCM, its token endpoint, webhooks), and per
    # call of a journey's `webhook` step.
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A journey's `webhook` steps call https URLs of public addresses only (`journeys.outbound`);
    # these let them call plain http, and private, loopback or link-local addresses.
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False

    # Signs the console's session cookies and CSRF tokens (`/console`); unset, the console's
    # sign-in is closed. `journeys dev` keeps one in its data dir.
    console_secret: Annotated[SecretStr, Field(min_length=32)] | None = None
    # Where people open the Temporal UI (`http://127.0.0.1:8233`): the console links each
    # execution there. `journeys dev` sets it.
    temporal_ui_url: str | None = None
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)

    # Operations. `text` logs for people, `json` one object a line for a log pipeline.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # host:port where the worker serves Prometheus metrics (the Temporal SDK's and the
    # journey counters) at /metrics; unset, no metrics endpoint.
    metrics_bind: str | None = None
    # The readiness probe's limit for each dependency it checks (database, Temporal).
    ready_timeout_seconds: float = 3.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
