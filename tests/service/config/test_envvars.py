import pytest

from flask_fanout import ConfigError
from flask_fanout.service.config import expand_env, names_env


def test_references_are_replaced_from_the_environment() -> None:
    environ = {"API_TOKEN": "s3cret", "HOST": "db"}
    assert expand_env("Bearer ${API_TOKEN}", "k", environ) == "Bearer s3cret"
    assert expand_env("postgresql://u:${API_TOKEN}@${HOST}/x", "k", environ) == (
        "postgresql://u:s3cret@db/x"
    )


def test_a_doubled_dollar_is_a_literal_dollar() -> None:
    assert expand_env("price $$5 and $${X}", "k", {}) == "price $5 and ${X}"


def test_a_missing_variable_names_the_key_and_the_variable_not_a_value() -> None:
    with pytest.raises(ConfigError) as caught:
        expand_env("Bearer ${API_TOKEN}", "sources.api.headers.Authorization", {"OTHER": "x"})
    assert str(caught.value) == (
        "sources.api.headers.Authorization: environment variable API_TOKEN is not set"
    )


def test_an_unterminated_reference_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be followed by NAME"):
        expand_env("x ${API", "k", {"API": "1"})


def test_names_env_tells_whether_a_value_may_hold_a_secret() -> None:
    assert names_env("Bearer ${T}")
    assert not names_env("Bearer plain $$")
