"""FANOUT_ADMISSION and the adaptive limit's settings: defaults and clear errors."""

from __future__ import annotations

import pytest

from flask_fanout import ConfigError, Settings
from flask_fanout.admission import GradientParams


def test_adaptive_is_the_default_with_its_bounds() -> None:
    settings = Settings.from_mapping({})
    assert settings.admission == "adaptive"
    assert (settings.min_inflight, settings.max_inflight) == (8, 768)
    assert settings.latency_tolerance == 1.12


def test_the_settings_and_the_controller_agree_on_the_defaults() -> None:
    settings, params = Settings.from_mapping({}), GradientParams()
    assert (settings.min_inflight, settings.max_inflight) == (params.floor, params.ceiling)
    assert settings.latency_tolerance == params.tolerance


def test_static_keeps_the_old_fixed_limit_unless_told_otherwise() -> None:
    assert Settings.from_mapping({"FANOUT_ADMISSION": "static"}).max_inflight == 128
    told = Settings.from_mapping({"FANOUT_ADMISSION": " Static ", "FANOUT_MAX_INFLIGHT": "300"})
    assert (told.admission, told.max_inflight) == ("static", 300)


def test_a_small_ceiling_pulls_the_default_floor_down_with_it() -> None:
    settings = Settings.from_mapping({"FANOUT_MAX_INFLIGHT": 2})
    assert (settings.min_inflight, settings.max_inflight) == (2, 2)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"FANOUT_ADMISSION": "sometimes"}, "FANOUT_ADMISSION"),
        ({"FANOUT_LATENCY_TOLERANCE": "0.9"}, "FANOUT_LATENCY_TOLERANCE"),
        ({"FANOUT_LATENCY_TOLERANCE": "fast"}, "FANOUT_LATENCY_TOLERANCE"),
        ({"FANOUT_LATENCY_TOLERANCE": "nan"}, "FANOUT_LATENCY_TOLERANCE"),
        ({"FANOUT_MIN_INFLIGHT": "0"}, "FANOUT_MIN_INFLIGHT"),
        ({"FANOUT_MIN_INFLIGHT": True}, "FANOUT_MIN_INFLIGHT"),
        ({"FANOUT_MIN_INFLIGHT": "64", "FANOUT_MAX_INFLIGHT": "32"}, "FANOUT_MIN_INFLIGHT"),
        ({"FANOUT_MAX_INFLIGHT": "0"}, "FANOUT_MAX_INFLIGHT"),
        ({"FANOUT_REJECT_PAUSE": "-1"}, "FANOUT_REJECT_PAUSE"),
    ],
)
def test_bad_values_name_their_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: "):
        Settings.from_mapping(values)


def test_tolerance_of_exactly_one_and_a_floor_at_the_ceiling_are_fine() -> None:
    settings = Settings.from_mapping(
        {"FANOUT_LATENCY_TOLERANCE": "1", "FANOUT_MIN_INFLIGHT": 32, "FANOUT_MAX_INFLIGHT": 32}
    )
    assert (settings.latency_tolerance, settings.min_inflight) == (1.0, 32)
    static = {"FANOUT_ADMISSION": "static", "FANOUT_MIN_INFLIGHT": 64, "FANOUT_MAX_INFLIGHT": 8}
    assert Settings.from_mapping(static).max_inflight == 8, "no floor in static mode"
