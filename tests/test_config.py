"""Configuration: defaults, and a bad value stops start-up with a sentence naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backend.config import Config, ConfigError


def test_it_defaults_to_loopback_and_sqlite_in_the_data_dir(tmp_path) -> None:
    config = Config.from_env({"BULKMSG_DATA_DIR": str(tmp_path)})
    assert config.host == "127.0.0.1"
    assert config.port == 8765
    assert config.database_url == f"sqlite:///{tmp_path / 'bulkmsg.sqlite3'}"
    assert config.delivery_job is True


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BULKMSG_PORT": "eighty"}, "BULKMSG_PORT"),
        ({"BULKMSG_PORT": "70000"}, "BULKMSG_PORT"),
        ({"BULKMSG_DELIVERY_JOB": "maybe"}, "BULKMSG_DELIVERY_JOB"),
        ({"BULKMSG_PUBLIC_URL": "ftp://x"}, "BULKMSG_PUBLIC_URL"),
        ({"BULKMSG_DATABASE_URL": "mysql://x"}, "BULKMSG_DATABASE_URL"),
        ({"BULKMSG_LOG_LEVEL": "LOUD"}, "BULKMSG_LOG_LEVEL"),
        ({"BULKMSG_CHROMIUM": "/nonexistent/chromium"}, "BULKMSG_CHROMIUM"),
        ({"BULKMSG_WHATSAPP_URL": "not a url"}, "BULKMSG_WHATSAPP_URL"),
    ],
)
def test_it_names_the_variable_of_a_bad_value(tmp_path, env, variable) -> None:
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({"BULKMSG_DATA_DIR": str(tmp_path), **env})


def test_it_turns_the_delivery_job_off(tmp_path) -> None:
    assert Config.from_env({"BULKMSG_DATA_DIR": str(tmp_path), "BULKMSG_DELIVERY_JOB": "false"}).delivery_job is False


def test_it_accepts_the_public_url_host(tmp_path) -> None:
    config = Config.from_env({"BULKMSG_DATA_DIR": str(tmp_path), "BULKMSG_PUBLIC_URL": "https://hooks.example.com/"})
    assert config.public_url == "https://hooks.example.com"
    assert "hooks.example.com" in config.allowed_hosts


def test_it_stops_the_cli_with_the_sentence(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "token", "--data-dir", str(tmp_path)],
        env={"BULKMSG_PORT": "abc", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "BULKMSG_PORT must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
