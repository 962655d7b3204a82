"""Vendor and route settings: nested models, read from the same environment names as ever."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import Settings
from shared.domain import Mode
from shared.providers.factory import VENDORS, build_router
from tests.fakes.clock import FakeClock

FLAT = {
    "STABILITY_API_KEYS": "s1, s2",
    "STABILITY_BASE_URL": "https://stability.example",
    "STABILITY_TEXT_TO_IMAGE_MODEL": "ultra",
    "STABILITY_IMAGE_TO_IMAGE_MODEL": "",
    "STABILITY_MAX_PER_MINUTE": "11",
    "STABILITY_MAX_CONCURRENT": "3",
    "DASHSCOPE_API_KEYS": "d1",
    "DASHSCOPE_BASE_URL": "https://dashscope-us.aliyuncs.com",
    "DASHSCOPE_TEXT_TO_VIDEO_MODEL": "wan-test",
    "DASHSCOPE_IMAGE_TO_VIDEO_MODEL": "wan-i2v-test",
    "DASHSCOPE_RESULT_HOSTS": "*.aliyuncs.com, cdn.example",
    "GEMINI_TEXT_MODEL": "gemini-text-test",
    "GEMINI_MAX_PER_MINUTE": "0",
    "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
    "OPENAI_MAX_CONCURRENT": "64",
    "OPENAI_API_KEY": "not-ours",  # the vendor SDKs' variable (singular): ignored, never a key of ours
    "ROUTE_TEXT_TO_IMAGE": "stability, local",
    "ROUTE_TEXT": "openai",
    "PRICES": "stability/ultra=3,openai/gpt-4o-mini=0.05",
    "TIER_LIMITS": '{"anonymous": 4, "registered": 6, "donor": 12}',
    "TEXT_TIER_LIMITS": "anonymous=9",
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in FLAT.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_every_vendor_setting_is_read_by_name_from_its_old_variable(settings: Settings):
    assert settings.stability.keys == ["s1", "s2"]
    assert settings.stability.base_url == "https://stability.example"
    assert settings.stability.models[Mode.TEXT_TO_IMAGE] == "ultra"
    assert settings.stability.models[Mode.IMAGE_TO_IMAGE] == ""  # empty: the mode is not offered
    assert (settings.stability.max_per_minute, settings.stability.max_concurrent) == (11, 3)
    assert settings.dashscope.models[Mode.TEXT_TO_VIDEO] == "wan-test"
    assert settings.dashscope.image_to_video_model == "wan-i2v-test"
    assert settings.dashscope.result_hosts == ["*.aliyuncs.com", "cdn.example"]
    assert settings.dashscope.text_to_image_model == "qwen-image"  # unset: the default
    assert settings.gemini.text_model == "gemini-text-test" and settings.gemini.max_per_minute == 0
    assert settings.gemini.keys == []
    assert settings.openai.base_url == "http://127.0.0.1:8000/v1" and settings.openai.max_concurrent == 64
    assert settings.openai.keys == []
    assert list(settings.vendors) == list(VENDORS)


def test_routes_are_read_per_mode(settings: Settings):
    assert settings.route.for_mode(Mode.TEXT_TO_IMAGE) == ["stability", "local"]
    assert settings.route.for_mode(Mode.TEXT) == ["openai"]
    assert settings.route.for_mode(Mode.TEXT_TO_VIDEO) == []


def test_one_parser_for_name_value_pairs_typed_by_the_field(settings: Settings):
    assert settings.prices == {"stability/ultra": 3.0, "openai/gpt-4o-mini": 0.05}
    assert settings.tier_limits == {"anonymous": 4, "registered": 6, "donor": 12}
    assert settings.text_tier_limits == {"anonymous": 9}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIER_LIMITS", "anonymous=3.5"),
        ("PRICES", "stability/core=cheap"),
        ("OPENAI_MAX_CONCURRENT", "0"),
        ("DASHSCOPE_BASE_URL", "dashscope-intl.aliyuncs.com"),
        ("STABILITY_MAX_PER_MINUTE", "-1"),
    ],
)
def test_bad_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_the_router_is_built_from_the_nested_settings(settings: Settings):
    router = build_router(settings, FakeClock(), None)
    assert set(router.providers) == {"stability", "dashscope", "local"}
    assert router.routes[Mode.TEXT_TO_IMAGE] == ["stability", "local"]
    assert router.providers["stability"].model_for(Mode.TEXT_TO_IMAGE) == "ultra"
    assert (router.throttles["stability"].per_minute, router.throttles["local"].per_minute) == (11, 0)
    stability_http = router.providers["stability"].http  # type: ignore[attr-defined]
    dashscope_http = router.providers["dashscope"].http  # type: ignore[attr-defined]
    assert stability_http.session is not dashscope_http.session  # one transport per vendor
    assert dashscope_http.hosts.result_hosts == ("*.aliyuncs.com", "cdn.example")
