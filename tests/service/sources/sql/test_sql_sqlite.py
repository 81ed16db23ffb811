"""Bind parameters on SQLite (the embedded default's database), as on the servers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_fanout import CallError


@pytest.fixture
def app(make_app: Callable[..., Flask], sqlite_db: Path) -> Flask:
    return make_app(
        f"""
        [sources.echo]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT :v AS v, (SELECT count(*) FROM items) AS items"

        [sources.item]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT name FROM items WHERE id = :id"
        """
    )


@pytest.mark.parametrize("value", ["'; DROP TABLE items; --", "Zoë 🙂", "?1 :v %s", 2**63 - 1])
def test_bind_values_stay_values(app: Flask, value: str | int) -> None:
    echo = app.extensions["fanout_service"].sources["echo"]
    assert echo.parameters == {"v"}
    assert echo.read(5, {"v": value}) == [{"v": value, "items": 2}]


def test_an_integer_sqlite_cannot_hold_is_a_query_error(app: Flask) -> None:
    item = app.extensions["fanout_service"].sources["item"]
    assert item.read(5, {"id": 2}) == [{"name": "ink"}]
    with pytest.raises(CallError) as caught:
        item.read(5, {"id": 2**63})
    assert caught.value.code == "query_failed"
