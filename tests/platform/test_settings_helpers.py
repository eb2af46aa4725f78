import pytest
from django.core.exceptions import ImproperlyConfigured

from liqplatform.settings import database_from_url, env_bool, env_int, env_list, env_url


@pytest.mark.parametrize("raw, expected", [("1", True), ("yes", True), ("ON", True), ("0", False), ("false", False)])
def test_env_bool_accepts(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("LIQ_X", raw)
    assert env_bool("LIQ_X", not expected) is expected


def test_env_bool_rejects_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQ_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="LIQ_X='maybe' is not a boolean"):
        env_bool("LIQ_X", False)


def test_env_int_rejects_non_integers_and_small_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQ_X", "12a")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("LIQ_X", 1)
    monkeypatch.setenv("LIQ_X", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("LIQ_X", 5, minimum=1)
    monkeypatch.setenv("LIQ_X", "25")
    assert env_int("LIQ_X", 5, minimum=1) == 25


def test_env_list_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIQ_X", raising=False)
    assert env_list("LIQ_X", ["a"]) == ["a"]
    monkeypatch.setenv("LIQ_X", "example.org, , api.example.org")
    assert env_list("LIQ_X", []) == ["example.org", "api.example.org"]


def test_env_url_requires_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_X", "127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match="must be a URL starting with one of redis"):
        env_url("REDIS_X", "redis://x", schemes=("redis",))


def test_database_url_postgres_and_sqlite() -> None:
    pg = database_from_url("postgres://u:p@db.example:5433/liq")
    assert (pg["ENGINE"], pg["NAME"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "liq",
        "db.example",
        5433,
    )
    lite = database_from_url("sqlite:////tmp/liq.sqlite3")
    assert lite["ENGINE"] == "django.db.backends.sqlite3" and lite["NAME"] == "/tmp/liq.sqlite3"


def test_database_url_rejects_unknown_scheme() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("mongodb://localhost/liq")
