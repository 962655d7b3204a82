"""Small builders shared by tests (no logic of the product lives here)."""

from __future__ import annotations

import base64
import io
import json
import socket
import time

from PIL import Image


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format=fmt)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def decompression_bomb() -> bytes:
    """A tiny PNG that claims 30000x30000 pixels."""
    out = io.BytesIO()
    Image.new("1", (30000, 30000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def emulator_id_token(uid: str) -> dict[str, str]:
    """Bearer headers with an ID token as the Auth emulator issues them: unsigned, so accepted only
    while FIREBASE_AUTH_EMULATOR_HOST is set (``shared.firebase``), without a round trip to it."""
    from shared.firebase import EMULATOR_PROJECT

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{EMULATOR_PROJECT}",
        "aud": EMULATOR_PROJECT,
        "auth_time": now,
        "user_id": uid,
        "sub": uid,
        "iat": now,
        "exp": now + 3600,
        "email": f"{uid}@example.com",
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }
    return {"Authorization": f"Bearer {part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."}
