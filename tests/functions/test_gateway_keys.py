"""Gateway API keys, end to end with the official ``openai`` SDK: a real account (Auth emulator) makes
a key at /api/v1/user/api-keys, the SDK uses it on /v1 as that user (their tier, their usage
records), the list never shows the secret, and a revoked or unknown key is ``AuthenticationError``.

The ``openai_compat`` function is served over real HTTP on 127.0.0.1 (the SDK needs a socket);
the text is answered by the offline ``local`` provider.
"""

from __future__ import annotations

from collections.abc import Iterator

import functions_framework
import openai
import pytest

from shared import wiring
from tests.conftest import ROOT, function_client
from tests.fakes.server import Loopback

pytestmark = pytest.mark.slow
KEYS = "/api/v1/user/api-keys"
HI = [{"role": "user", "content": "a lighthouse at dusk"}]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = functions_framework.create_app(target="openai_compat", source=str(ROOT / "main.py"), signature_type="http")
    server = Loopback(app, "openai-compat-keys")
    yield f"{server.url}/v1"
    server.stop()


@pytest.fixture
def gateway(env, firebase, monkeypatch):
    monkeypatch.setenv("OPENAI_COMPAT_ANONYMOUS", "false")  # only a key (or a sign-in) gets in
    monkeypatch.setenv("TEXT_TIER_LIMITS", "anonymous=100,registered=100,donor=100")
    wiring.reset()
    return firebase


def _sdk(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def _chat(base_url: str, key: str):
    raw = _sdk(base_url, key).chat.completions.with_raw_response.create(model="auto", messages=HI, max_tokens=32)
    return raw.parse(), raw.headers


def test_the_key_lifecycle_create_use_list_revoke_refused(gateway, base_url):
    user = gateway.sign_up()
    made = function_client("user").post(KEYS, json={"name": "my script"}, headers=user.bearer)
    assert made.status_code == 201, made.get_json()
    secret, key_id = made.get_json()["secret"], made.get_json()["id"]
    assert secret.startswith("sk-gw-") and len(secret) >= len("sk-gw-") + 43, "32 random bytes, url-safe base64"

    completion, headers = _chat(base_url, secret)
    assert completion.object == "chat.completion" and "lighthouse" in completion.choices[0].message.content
    assert headers["RateLimit-Policy"].startswith('"text-registered"'), "the key acts with its user's tier"
    usage = function_client("user").get("/api/v1/user/usage", headers=user.bearer).get_json()
    assert [item["mode"] for item in usage["items"]] == ["text"], "recorded as the user's usage"

    listed = function_client("user").get(KEYS, headers=user.bearer)
    [view] = listed.get_json()["keys"]
    assert (view["id"], view["name"], view["prefix"]) == (key_id, "my script", secret[:10])
    assert view["last_used_at"] is not None and view["created_at"] <= view["last_used_at"]
    assert secret not in listed.get_data(as_text=True) and secret[10:] not in listed.get_data(as_text=True)

    assert function_client("user").delete(f"{KEYS}/{key_id}", headers=user.bearer).status_code == 204
    with pytest.raises(openai.AuthenticationError) as refused:
        _chat(base_url, secret)
    assert refused.value.status_code == 401
    assert function_client("user").get(KEYS, headers=user.bearer).get_json()["keys"] == []
    assert function_client("user").delete(f"{KEYS}/{key_id}", headers=user.bearer).status_code == 404


def test_an_unknown_key_is_refused_and_keys_do_not_open_the_site_api(gateway, base_url):
    user = gateway.sign_up()
    with pytest.raises(openai.AuthenticationError):
        _chat(base_url, "sk-gw-" + "x" * 43)
    with pytest.raises(openai.AuthenticationError):  # no key, no sign-in: anonymous access is off here
        _sdk(base_url, "not-a-gateway-key").chat.completions.create(model="auto", messages=HI)
    secret = function_client("user").post(KEYS, json={"name": "ci"}, headers=user.bearer).get_json()["secret"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert function_client("user").get(KEYS, headers=bearer).status_code == 401, "keys cannot manage keys"
    assert function_client("user").post(KEYS, json={"name": "more"}, headers=bearer).status_code == 401
    assert function_client("user").get("/api/v1/user/me", headers=bearer).status_code == 401


def test_a_key_follows_its_users_tier_and_only_its_user_revokes_it(gateway, base_url):
    user, other = gateway.sign_up(), gateway.sign_up()
    made = function_client("user").post(KEYS, json={"name": "bot"}, headers=user.bearer).get_json()
    wiring.services().accounts.set_tier(user.uid, "donor")
    assert _chat(base_url, made["secret"])[1]["RateLimit-Policy"].startswith('"text-donor"')
    assert function_client("user").delete(f"{KEYS}/{made['id']}", headers=other.bearer).status_code == 404
    assert _chat(base_url, made["secret"])[0].object == "chat.completion", "still works: not other's to revoke"
    guest = gateway.anonymous()
    assert function_client("user").post(KEYS, json={"name": "x"}, headers=guest.bearer).status_code == 401
    assert function_client("user").post(KEYS, json={"name": " "}, headers=user.bearer).status_code == 422
