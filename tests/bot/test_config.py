"""Settings: config.yaml plus the environment; a bad value names the file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import DEFAULT_DATABASE_URL, load_settings
from bot.config.starter import default_config_file, starter_flows_dir
from bot.storage.database import Database, redact_url
from bot.yamlsource import SourceError
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./config.yaml unless a test writes one."""
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path | None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SourceError) as caught:
        load_settings(path, env=env or {})
    return [str(p) for p in caught.value.problems]


# ---- where settings come from ---------------------------------------------------------------------


def test_without_a_config_file_the_embedded_defaults_apply(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.source == "(embedded defaults)"
    assert settings.database.url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///engagebot.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    # No flows/ here: the starter flows shipped in the package serve (`engagebot init` copies them out).
    assert settings.configured_flows_dir == tmp_path / "flows" and settings.uses_starter_flows
    assert settings.flows_dir == starter_flows_dir() == REPO / "flows"
    (tmp_path / "flows").mkdir()
    assert settings.flows_dir == tmp_path / "flows" and not settings.uses_starter_flows
    assert settings.flows.hot_reload is True
    assert settings.business.timezone == "UTC"
    assert settings.secrets.telegram_bot_token is None


def test_the_shipped_config_yaml_loads_and_documents_the_defaults(tmp_path: Path) -> None:
    shipped = load_settings(REPO / "config.yaml", env={})
    assert shipped.source == str(REPO / "config.yaml")
    # Relative paths are resolved from the config file's folder, not the working directory.
    assert shipped.flows_dir == REPO / "flows"
    # Every value in it is the default: a bot started in the checkout tells customers of no example team.
    assert shipped.model_dump() == load_settings(env={}).model_dump()
    assert not shipped.staff and not shipped.campaigns and shipped.routing.fallback is None
    # It is what `engagebot init` writes (the package's copy of it, in an installed package).
    assert default_config_file().read_text(encoding="utf-8") == (REPO / "config.yaml").read_text(encoding="utf-8")


def test_the_example_team_is_a_config_file_of_its_own() -> None:
    team = load_settings(REPO / "examples" / "team.yaml", env={})
    assert [m.key for m in team.staff] == ["dana", "maria", "tom", "priya"]
    assert team.routing.fallback == "dana" and team.routing.rules and team.slack.channels
    assert set(team.campaigns) == {"tips", "thank_you", "win_back", "customer_panel"} and team.tiers.rules
    assert team.crosssell.rules["beans_to_grinder"].offer == "grinder" and team.resurvey.every_months == 6
    assert team.flows_dir == REPO / "examples" / ".." / "flows"  # the repository's flows, relative to the file


def test_an_empty_config_file_means_the_defaults(tmp_path: Path) -> None:
    path = config(tmp_path, "# nothing set yet\n")
    settings = load_settings(path, env={})
    assert settings.source == str(path)
    assert settings.model_dump() == load_settings(env={}).model_dump()


@pytest.mark.parametrize(
    ("explicit", "env_config", "expected"),
    [
        pytest.param(None, None, "from ./config.yaml", id="./config.yaml"),
        pytest.param(None, "env/config.yaml", "from ENGAGEBOT_CONFIG", id="ENGAGEBOT_CONFIG beats ./config.yaml"),
        pytest.param("cli/config.yaml", "env/config.yaml", "from --config", id="--config beats ENGAGEBOT_CONFIG"),
    ],
)
def test_which_config_file_is_read(tmp_path: Path, explicit: str | None, env_config: str | None, expected: str) -> None:
    config(tmp_path, "business: {name: from ./config.yaml}\n")
    config(tmp_path, "business: {name: from ENGAGEBOT_CONFIG}\n", "env/config.yaml")
    config(tmp_path, "business: {name: from --config}\n", "cli/config.yaml")
    env = {"ENGAGEBOT_CONFIG": str(tmp_path / env_config)} if env_config else {}
    settings = load_settings(tmp_path / explicit if explicit else None, env=env)
    assert settings.business.name == expected


def test_flows_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    relative = load_settings(config(tmp_path, "flows: {dir: my_flows}\n", "site/config.yaml"), env={})
    assert relative.flows_dir == tmp_path / "site" / "my_flows"
    absolute = load_settings(config(tmp_path, f"flows: {{dir: {tmp_path / 'abs'}}}\n", "other.yaml"), env={})
    assert absolute.flows_dir == tmp_path / "abs"


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    assert refused(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}:1: config file not found"]


# ---- the environment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "engine_url"),
    [
        ("postgres://bot:s3cret@db.example.com:5432/engage", "postgresql+asyncpg://bot:s3cret@db.example.com:5432/engage"),
        ("postgresql://bot@localhost/engage", "postgresql+asyncpg://bot@localhost/engage"),
        ("postgresql+psycopg2://bot@localhost/engage", "postgresql+asyncpg://bot@localhost/engage"),
        ("postgresql+asyncpg://bot@localhost/engage", "postgresql+asyncpg://bot@localhost/engage"),
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("sqlite+aiosqlite:///bot.db", "sqlite+aiosqlite:///bot.db"),
    ],
)  # fmt: skip
def test_database_url_from_the_environment_gets_an_async_driver(tmp_path: Path, url: str, engine_url: str) -> None:
    path = config(tmp_path, "database: {url: 'sqlite+aiosqlite:///from_file.db'}\n")
    settings = load_settings(path, env={"DATABASE_URL": url})
    assert settings.database.url == url  # the environment beats the file
    assert Database(settings.database.url).url == engine_url


def test_the_database_password_is_hidden_when_the_url_is_shown() -> None:
    settings = load_settings(env={"DATABASE_URL": "postgres://bot:s3cret@db.example.com/engage"})
    shown = redact_url(Database(settings.database.url).url)
    assert "s3cret" not in shown
    assert shown == "postgresql+asyncpg://bot:***@db.example.com/engage"


def test_host_and_port_from_the_environment_beat_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, "server: {host: 127.0.0.1, port: 9000}\n")
    assert load_settings(path, env={}).public_url == "http://127.0.0.1:9000"
    settings = load_settings(path, env={"ENGAGEBOT_HOST": "0.0.0.0", "ENGAGEBOT_PORT": "9100"})
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9100)
    assert settings.public_url == "http://0.0.0.0:9100"


@pytest.mark.parametrize("port", ["eighty", "70000", "-1", "8080x", "80.5"])
def test_an_invalid_port_in_the_environment_names_the_variable(port: str) -> None:
    assert refused(None, {"ENGAGEBOT_PORT": port}) == [f"ENGAGEBOT_PORT: {port!r} is not a port number (0-65535)"]


def test_every_bad_environment_variable_is_reported_at_once() -> None:
    assert refused(None, {"ENGAGEBOT_PORT": "http", "TELEGRAM_MODE": "push"}) == [
        "ENGAGEBOT_PORT: 'http' is not a port number (0-65535)",
        "TELEGRAM_MODE: 'push' must be polling or webhook",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "not a database URL; use e.g. sqlite+aiosqlite:///engagebot.db or postgresql://"),
        ("mysql://bot:s3cret@db/shop", "mysql is not supported: use SQLite or PostgreSQL"),
        ("postgresql://bot:s3cret@db", "names no database"),
    ],
)
def test_a_database_url_no_connection_can_fix_is_refused_without_its_password(
    tmp_path: Path, url: str, problem: str
) -> None:
    (message,) = refused(None, {"DATABASE_URL": url})
    assert message.startswith(f"DATABASE_URL: {problem}") and "s3cret" not in message
    path = config(tmp_path, f"database:\n  url: {url}\n")
    (message,) = refused(path)
    assert message.startswith(f"{path}:2: ") and problem in message and "s3cret" not in message


ALL_SECRETS = {
    "TELEGRAM_BOT_TOKEN": ("telegram_bot_token", "123456:TELEGRAM-token-value"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram_webhook_secret", "webhook-secret-value"),
    "SLACK_BOT_TOKEN": ("slack_bot_token", "xoxb-slack-bot-token-value"),
    "SLACK_SIGNING_SECRET": ("slack_signing_secret", "slack-signing-secret-value"),
    "SLACK_APP_TOKEN": ("slack_app_token", "xapp-slack-app-token-value"),
    "ENGAGEBOT_API_KEY": ("api_key", "engagebot-api-key-value"),
}


def test_secrets_come_from_the_environment_and_never_show_in_reprs_or_dumps() -> None:
    settings = load_settings(env={var: value for var, (_field, value) in ALL_SECRETS.items()})
    shown = [repr(settings), str(settings), repr(settings.secrets), str(settings.secrets), settings.model_dump_json()]
    for _var, (field, value) in ALL_SECRETS.items():
        secret = getattr(settings.secrets, field)
        assert isinstance(secret, SecretStr)
        assert secret.get_secret_value() == value
        assert not [text for text in shown if value in text], f"{field} leaked"


def test_an_empty_secret_variable_counts_as_unset() -> None:
    assert load_settings(env={"TELEGRAM_BOT_TOKEN": ""}).secrets.telegram_bot_token is None


# ---- bad config files -----------------------------------------------------------------------------

BAD_CONFIGS = [
    pytest.param("business:\n  name: Acme\n  timezon: UTC\n", 3, 'unknown key "timezon" (did you mean "timezone"?)',
                 id="misspelled key"),
    pytest.param("busines:\n  name: Acme\n", 1, 'unknown key "busines" (did you mean "business"?)',
                 id="misspelled section"),
    pytest.param("business:\n  port: 8080\n", 2, '"port" does not belong in business', id="key in the wrong section"),
    pytest.param("business:\n  timezone: Mars/Olympus\n", 2,
                 "business.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Berlin)",
                 id="unknown time zone"),
    pytest.param("business:\n  timezone: Europe/Berln\n", 2, "business.timezone: unknown time zone 'Europe/Berln'",
                 id="misspelled time zone"),
    pytest.param("intents:\n  threshold: 150\n", 2, "intents.threshold: Input should be less than or equal to 100",
                 id="number too big"),
    pytest.param("server:\n  port: 70000\n", 2, "server.port: Input should be less than or equal to 65535",
                 id="port too big"),
    pytest.param("conversation:\n  max_retries: -1\n", 2,
                 "conversation.max_retries: Input should be greater than or equal to 0", id="number too small"),
    pytest.param("conversation:\n  resume_within_hours: 0\n", 2,
                 "conversation.resume_within_hours: Input should be greater than 0", id="zero hours"),
    pytest.param("conversation:\n  max_retries: lots\n", 2, "conversation.max_retries: Input should be a valid integer",
                 id="text for a number"),
    pytest.param("flows:\n  hot_reload: sometimes\n", 2, "flows.hot_reload: Input should be a valid boolean",
                 id="text for a yes/no"),
    pytest.param("server: 8080\n", 1, "server: Input should be a valid dictionary", id="value for a section"),
    pytest.param("telegram:\n  mode: push\n", 2, "telegram.mode: 'push' is not one of polling, webhook",
                 id="value not among the choices"),
    pytest.param("business:\n  name: Acme\n   timezone: UTC\n", 3, "invalid YAML: mapping values are not allowed here",
                 id="bad indentation"),
    pytest.param("business:\n\tname: Acme\n", 2, "invalid YAML: found character '\\t' that cannot start any token",
                 id="tab"),
    pytest.param("server:\n  port: 8001\n  port: 8002\n", 3, 'invalid YAML: found duplicate key "port"',
                 id="duplicate key"),
    pytest.param("- business\n- server\n", 1, "the config file must be a mapping of sections", id="a list"),
    pytest.param("business:\n  name: Acme\nsecrets:\n  telegram_bot_token: '123:abc'\n", 3,
                 '"secrets" cannot be set in the file: secrets come from the environment', id="secrets section"),
    pytest.param("telegram:\n  telegram_bot_token: '123:abc'\n", 2,
                 '"telegram_bot_token" cannot be set in the file: set TELEGRAM_BOT_TOKEN in the environment',
                 id="token in a section"),
    pytest.param("slack:\n  api_url: https://slack.example/api/\n  slack_signing_secret: abc\n", 3,
                 '"slack_signing_secret" cannot be set in the file: set SLACK_SIGNING_SECRET in the environment',
                 id="signing secret in a section"),
    pytest.param("source: somewhere-else\n", 1, '"source" cannot be set in the file', id="internal field"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), BAD_CONFIGS)
def test_a_bad_config_file_names_the_file_line_and_what_is_wrong(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = config(tmp_path, text)
    problems = refused(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems
    assert message in problems[0]
    assert re.fullmatch(r".+:\d+: .+", problems[0])


def test_every_bad_value_in_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = config(tmp_path, "server:\n  port: 70000\nbusiness:\n  timezone: Nowhere\nintents:\n  threshold: -5\n")
    assert [p.split(": ")[0] for p in refused(path)] == [f"{path}:2", f"{path}:4", f"{path}:6"]


def test_a_bad_file_is_refused_even_when_the_environment_is_fine(tmp_path: Path) -> None:
    path = config(tmp_path, "intents:\n  threshold: 150\n")
    assert refused(path, {"DATABASE_URL": "sqlite:///ok.db", "ENGAGEBOT_PORT": "8080"})[0].startswith(f"{path}:2: ")


def test_quiet_hours_are_on_without_the_key_and_off_with_null(tmp_path: Path) -> None:
    """What config.yaml says: a missing key means 21:00-09:00, `quiet_hours: null` any hour."""
    missing = load_settings(config(tmp_path, "outreach: {tick_seconds: 2}\n"), env={}).outreach.quiet_hours
    assert missing is not None and (missing.start, missing.end) == ("21:00", "09:00")
    assert load_settings(config(tmp_path, "outreach: {quiet_hours: null}\n"), env={}).outreach.quiet_hours is None
    (problem,) = refused(config(tmp_path, 'outreach:\n  quiet_hours: {start: "22:00", end: "22:00"}\n'))
    assert "set quiet_hours: null to turn them off" in problem
