"""Real Firebase accounts for tests: the Auth emulator and what a browser's Firebase SDK does with it.

ONE emulator serves the whole run: ``make test`` starts it around pytest
(``tools/auth_emulator.py``) and hands its address in ``FIREBASE_AUTH_EMULATOR_HOST``; a bare
``pytest`` run starts one on first use, behind a file lock that every xdist worker of the run
shares, and it stops when the run ends. ``tests/conftest.py`` takes the variable out of the
environment, so only tests that ask for ``firebase`` see it (the rest, and their subprocesses,
run as without the emulator).

Accounts are made over the emulator's REST API, exactly as the JavaScript SDK makes them
(``accounts:signUp`` with ``returnSecureToken``: email/password, or anonymous without either;
``accounts:update`` links an anonymous account to an email and keeps its uid), and custom claims
are set through firebase-admin against the emulator. Nothing is stubbed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from filelock import FileLock

from tools import auth_emulator as tool

_STARTED_WITH = os.environ.pop(tool.VARIABLE, None)  # make test's emulator; hidden from other tests


@dataclass(frozen=True)
class User:
    uid: str
    id_token: str
    refresh_token: str
    email: str | None = None
    password: str | None = None

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token}"}


class FirebaseAccounts:
    """The emulator's accounts API, as the site's Firebase SDK uses it, plus admin operations."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._admin: Any = None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(
            f"http://{self.host}/identitytoolkit.googleapis.com/v1/{path}?key=fake-api-key", json=body, timeout=30
        )
        assert response.ok, response.text
        return response.json()

    def _user(self, data: dict[str, Any], email: str | None = None, password: str | None = None) -> User:
        return User(data["localId"], data["idToken"], data["refreshToken"], email, password)

    def sign_up(self, email: str | None = None, password: str = "correct-horse-9") -> User:
        email = email or f"u-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": password, "returnSecureToken": True}
        return self._user(self._post("accounts:signUp", body), email, password)

    def anonymous(self) -> User:
        """Firebase anonymous sign-in (what the site does on a first visit)."""
        return self._user(self._post("accounts:signUp", {"returnSecureToken": True}))

    def link_email(self, user: User, email: str | None = None, password: str = "correct-horse-9") -> User:
        """Upgrade an anonymous account to email/password (account linking keeps the uid)."""
        email = email or f"u-{uuid.uuid4().hex[:12]}@example.com"
        body = {"idToken": user.id_token, "email": email, "password": password, "returnSecureToken": True}
        data = self._post("accounts:update", body)
        return User(data["localId"], data["idToken"], data["refreshToken"], email, password)

    def sign_in(self, user: User) -> User:
        body = {"email": user.email, "password": user.password, "returnSecureToken": True}
        return self._user(self._post("accounts:signInWithPassword", body), user.email, user.password)

    def refresh(self, user: User) -> User:
        """A new ID token (it carries the custom claims set since)."""
        response = requests.post(
            f"http://{self.host}/securetoken.googleapis.com/v1/token?key=fake-api-key",
            data={"grant_type": "refresh_token", "refresh_token": user.refresh_token},
            timeout=30,
        )
        assert response.ok, response.text
        return replace(user, id_token=response.json()["id_token"], refresh_token=response.json()["refresh_token"])

    def admin_auth(self) -> Any:
        """firebase-admin's auth module and app, against the emulator."""
        import firebase_admin
        from firebase_admin import auth

        if self._admin is None:
            previous = os.environ.get(tool.VARIABLE)
            os.environ[tool.VARIABLE] = self.host  # read once, when the app's auth client is made
            try:
                options = {"projectId": tool.PROJECT}
                app = firebase_admin.initialize_app(options=options, name=f"tests-{uuid.uuid4().hex}")
                auth.list_users(max_results=1, app=app)
            finally:
                if previous is None:
                    os.environ.pop(tool.VARIABLE, None)
                else:
                    os.environ[tool.VARIABLE] = previous
            self._admin = app
        return auth, self._admin

    def set_claims(self, uid: str, claims: dict[str, Any]) -> None:
        auth, app = self.admin_auth()
        auth.set_custom_user_claims(uid, claims, app=app)

    def claims(self, uid: str) -> dict[str, Any]:
        auth, app = self.admin_auth()
        return dict(auth.get_user(uid, app=app).custom_claims or {})


def _start_shared(root: Path, watch: int) -> str:
    """Start the run's emulator once (under a lock every worker of the run shares) and return its host."""
    folder = root / "auth-emulator"
    with FileLock(str(root / "auth-emulator.lock")):
        host_file = folder / "host"
        if not host_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder / "watcher.log", "wb")  # noqa: SIM115 - the detached watcher writes to it
            subprocess.Popen(
                [sys.executable, "-m", "tools.auth_emulator", "serve", "--dir", str(folder), "--watch", str(watch)],
                cwd=tool.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 30
            while not host_file.exists():
                assert time.monotonic() < deadline, (folder / "watcher.log").read_text()
                time.sleep(0.1)
        return host_file.read_text().strip()


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory: pytest.TempPathFactory) -> FirebaseAccounts:
    host = _STARTED_WITH
    if not host:
        problem = tool.missing()
        if problem is not None:
            message = f"The Auth emulator cannot start: {problem}. `make test` installs firebase-tools."
            pytest.fail(message, pytrace=False)
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        base = tmp_path_factory.getbasetemp()
        host = _start_shared(base.parent if worker else base, os.getppid() if worker else os.getpid())
    tool.wait_ready(host)
    return FirebaseAccounts(host)


@pytest.fixture
def firebase(auth_emulator: FirebaseAccounts, env: Path, monkeypatch: pytest.MonkeyPatch) -> FirebaseAccounts:
    """The embedded gateway of ``env``, signing in against the Auth emulator."""
    from shared import wiring

    monkeypatch.setenv(tool.VARIABLE, auth_emulator.host)
    wiring.reset()
    return auth_emulator


class NamedUsers:
    """Tests' users by name ("alice", "bob"): each a real account on the emulator, made on first use."""

    def __init__(self, accounts: FirebaseAccounts) -> None:
        self.accounts = accounts
        self.users: dict[str, User] = {}

    def user(self, name: str) -> User:
        if name not in self.users:
            self.users[name] = self.accounts.sign_up(f"{name}-{uuid.uuid4().hex[:10]}@example.com")
        return self.users[name]

    def uid(self, name: str) -> str:
        return self.user(name).uid

    def bearer(self, name: str) -> dict[str, str]:
        return self.user(name).bearer


@pytest.fixture
def named_users(firebase: FirebaseAccounts) -> NamedUsers:
    return NamedUsers(firebase)
