"""Who comes on the compressed busy day (bench/busy_day.py): the visitors' plan and their accounts.

The plan is drawn from a seed, so two runs with the same arguments send the same day: each
visitor's kind (site visitor signed in anonymously, a token-less script, a registered user, a
donor), arrival time (a day's curve, quiet at night and busy in the afternoon, squeezed into
``day_seconds``), address, pages, generations and text requests. Accounts are real Firebase
users on the Auth emulator, made over its REST API as the site's SDK makes them; donors get
their tier from the product's own admin route (the user store is the tier's source of truth).
"""

from __future__ import annotations

import io
import json
import math
import random
import uuid
from dataclasses import dataclass, field

import httpx
from PIL import Image

PROJECT = "demo-aiart-gateway"  # tools/auth_emulator.py's project
MEDIA_MODES = ("text-to-image", "image-to-image", "text-to-video", "image-to-video")
MODE_WEIGHTS = (0.42, 0.22, 0.2, 0.16)
PAGES = ("/", "/donate/", "/account.html", "/history", "/privacy")
SUBJECTS = ("a red fox", "a lighthouse", "a koi pond", "a paper boat", "an old tram", "a snowy cabin", "a comet")
STYLES = ("in snow", "at dusk", "as a woodcut", "in neon", "in watercolour", "under rain", "at noon")
KINDS = ("anonymous", "script", "registered", "donor")
TIER_OF = {"anonymous": "anonymous", "script": "anonymous", "registered": "registered", "donor": "donor"}


@dataclass(frozen=True)
class DayShape:
    """How many come, when, and what kinds (shares of the visitors)."""

    visitors: int = 500
    day_seconds: float = 150.0
    seed: int = 16
    shares: tuple[float, float, float, float] = (0.5, 0.1, 0.28, 0.12)  # anonymous, script, registered, donor
    think: tuple[float, float] = (0.2, 1.2)  # seconds between a visitor's actions (compressed)
    heavy_share: float = 0.04  # visitors who try far more generations than the limits allow


@dataclass
class Action:
    kind: str  # "generate", "text", "page", "history"
    mode: str = ""
    cancel: bool = False  # cancel right after submit (the Cancel button)
    double: bool = False  # the same submit twice (a double click; same Idempotency-Key)
    stream: bool = False
    page: str = "/"
    prompt: str = ""


@dataclass
class VisitorPlan:
    index: int
    kind: str
    arrival: float  # seconds after the day starts
    address: str  # what X-Forwarded-For says (Google's front end appends it)
    actions: list[Action] = field(default_factory=list)
    heavy: bool = False  # clicks Generate again and again, without waiting for each result

    @property
    def tier(self) -> str:
        return TIER_OF[self.kind]


def day_curve(hour: float) -> float:
    """Relative visits per hour: a floor at night, a peak in the afternoon (about 15:00)."""
    return 0.12 + max(0.0, math.sin(math.pi * (hour - 7.0) / 16.0)) ** 2


def arrivals(count: int, day_seconds: float, rng: random.Random) -> list[float]:
    """``count`` arrival times in [0, day_seconds), drawn from ``day_curve`` (inverse CDF on a grid)."""
    grid = [day_curve(24.0 * (i + 0.5) / 480) for i in range(480)]
    total = sum(grid)
    cumulative, running = [], 0.0
    for weight in grid:
        running += weight / total
        cumulative.append(running)
    times = []
    for _ in range(count):
        u = rng.random()
        slot = next((i for i, c in enumerate(cumulative) if c >= u), len(grid) - 1)
        times.append((slot + rng.random()) / len(grid) * day_seconds)
    return sorted(times)


def address(index: int, rng: random.Random) -> str:
    """One visitor's address: mostly IPv4, some IPv6 (their /64 is the limits' key); a few
    visitors share an office's address (NAT) and so share its anonymous limits."""
    roll = rng.random()
    if roll < 0.06:
        return f"192.0.2.{rng.randrange(1, 4)}"  # three offices
    if roll < 0.2:
        return f"2001:db8:{index:x}::{rng.randrange(1, 0xFFFF):x}"
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255 or 1}"


def _prompt(rng: random.Random, index: int) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(STYLES)}, visitor {index} take {rng.randrange(10_000)}"


def _actions(kind: str, heavy: bool, index: int, rng: random.Random) -> list[Action]:
    if kind == "script":
        return [
            Action("generate", mode=rng.choice(("text-to-image", "text-to-video"))) for _ in range(rng.randint(1, 3))
        ]
    if kind == "anonymous" and rng.random() < 0.35:  # a bounce: pages only
        return [Action("page", page=rng.choice(PAGES)) for _ in range(rng.randint(1, 2))]
    generations = {"anonymous": (1, 3), "registered": (1, 4), "donor": (1, 6)}[kind]
    count = rng.randint(12, 16) if heavy else rng.randint(*generations)
    actions = [Action("generate", mode=rng.choices(MEDIA_MODES, MODE_WEIGHTS)[0]) for _ in range(count)]
    for action in actions:
        action.cancel = rng.random() < 0.03
        action.double = not action.cancel and rng.random() < 0.03
    actions += [Action("text", stream=rng.random() < 0.3) for _ in range(rng.randint(0, 3))]
    actions += [Action("page", page=rng.choice(PAGES)) for _ in range(rng.randint(0, 2))]
    if kind != "anonymous":
        actions.append(Action("history"))
    rng.shuffle(actions)
    for action in actions:
        action.prompt = _prompt(rng, index)
    return [Action("page", page="/"), *actions]


def plan_day(shape: DayShape) -> list[VisitorPlan]:
    rng = random.Random(shape.seed)
    times = arrivals(shape.visitors, shape.day_seconds, rng)
    plans = []
    for index, arrival in enumerate(times):
        kind = rng.choices(KINDS, shape.shares)[0]
        heavy = kind != "script" and rng.random() < shape.heavy_share
        plans.append(VisitorPlan(index, kind, arrival, address(index, rng), _actions(kind, heavy, index, rng), heavy))
    return plans


def sample_png(seed: int, side: int = 160) -> bytes:
    """A real small PNG (a gradient), different for each seed, for the upload modes."""
    rng = random.Random(seed)
    base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    image = Image.new("RGB", (side, side))
    image.putdata([((base[0] + x) % 256, (base[1] + y) % 256, base[2]) for y in range(side) for x in range(side)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- Firebase accounts on the Auth emulator ------------------------------------------------


@dataclass
class Account:
    uid: str
    id_token: str
    email: str | None = None
    password: str | None = None


class Accounts:
    """The Auth emulator's REST API, as the site's Firebase SDK calls it (and the admin's claims)."""

    def __init__(self, client: httpx.AsyncClient, host: str) -> None:
        self.client = client
        self.base = f"http://{host}/identitytoolkit.googleapis.com/v1"
        self.securetoken = f"http://{host}/securetoken.googleapis.com/v1/token?key=fake-api-key"

    async def _post(self, path: str, body: dict) -> dict:
        answer = await self.client.post(f"{self.base}/{path}?key=fake-api-key", json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()

    async def anonymous(self) -> Account:
        data = await self._post("accounts:signUp", {"returnSecureToken": True})
        return Account(data["localId"], data["idToken"])

    async def sign_up(self) -> Account:
        email, password = f"busy-{uuid.uuid4().hex[:12]}@example.com", "correct-horse-9"
        data = await self._post("accounts:signUp", {"email": email, "password": password, "returnSecureToken": True})
        return Account(data["localId"], data["idToken"], email, password)

    async def sign_in(self, account: Account) -> Account:
        body = {"email": account.email, "password": account.password, "returnSecureToken": True}
        data = await self._post("accounts:signInWithPassword", body)
        return Account(data["localId"], data["idToken"], account.email, account.password)

    async def set_claims(self, uid: str, claims: dict) -> None:
        """What firebase-admin's set_custom_user_claims sends to the emulator (its owner credential)."""
        answer = await self.client.post(
            f"{self.base}/projects/{PROJECT}/accounts:update",
            json={"localId": uid, "customAttributes": json.dumps(claims)},
            headers={"Authorization": "Bearer owner"},
            timeout=60,
        )
        answer.raise_for_status()
