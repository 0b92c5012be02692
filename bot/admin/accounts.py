"""Console accounts (argon2 password hashes), their roles, and signed-in sessions.

A session is a random token in the browser's cookie; only its SHA-256 is stored, with the CSRF token every form of
that session must carry. Sessions live in the database, so any instance serves a browser signed in on another.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from bot.admin import audit
from bot.admin.models import AdminAccount, AdminSession
from bot.ports import Clock
from bot.storage.database import Database

SESSION_LIFETIME = timedelta(hours=12)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,59}")
MIN_PASSWORD = 8


class Role(IntEnum):
    """Each role can do everything the ones below it can."""

    viewer = 1  # reads every page
    editor = 2  # also edits and publishes flows, sends campaigns
    admin = 3  # also manages accounts

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text]
        except KeyError:
            raise AccountError(f"unknown role {text!r}: use admin, editor or viewer") from None


class AccountError(Exception):
    """A refused account change, with the reason to show."""


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """The account behind a session cookie, and the CSRF token its forms carry."""

    name: str
    role: Role
    csrf_token: str

    def can(self, role: Role) -> bool:
        return self.role >= role


_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name takes as long as a wrong password. Made on first
    use, not at import: a hash costs ~0.2 s of CPU, which every command's start would pay."""
    return _hasher.hash("not a password anyone has")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AdminAccounts:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    async def any_exist(self) -> bool:
        async with self.db.sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(AdminAccount)))

    async def add(self, name: str, role: str, password: str, *, actor: str = "cli") -> Account:
        if not NAME.fullmatch(name):
            raise AccountError("a name is 1-60 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
        parsed = Role.parse(role)
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(_hasher.hash, password)  # ~50 ms of CPU: off the event loop
        now = self.clock.now()
        async with self.db.transaction() as session:
            if await session.scalar(select(AdminAccount.id).where(AdminAccount.name == name)) is not None:
                raise AccountError(f"an account named {name} exists already")
            session.add(AdminAccount(name=name, role=parsed.name, password_hash=hashed, created_at=now))
            audit.record(session, now, actor, "account added", name, f"role {parsed.name}")
        return Account(name, parsed, now)

    async def remove(self, name: str, *, actor: str = "cli") -> None:
        """Remove the account and sign out its sessions."""
        async with self.db.transaction() as session:
            account = await session.scalar(select(AdminAccount).where(AdminAccount.name == name))
            if account is None:
                raise AccountError(f"no account named {name}")
            others = await session.scalar(
                select(func.count())
                .select_from(AdminAccount)
                .where(AdminAccount.role == Role.admin.name, AdminAccount.id != account.id)
            )
            if account.role == Role.admin.name and not others and actor != "cli":
                raise AccountError("the last admin cannot be removed from the console")
            await session.execute(delete(AdminSession).where(AdminSession.account_id == account.id))
            await session.delete(account)
            audit.record(session, self.clock.now(), actor, "account removed", name)

    async def list(self) -> list[Account]:
        async with self.db.sessions() as session:
            rows = (await session.execute(select(AdminAccount).order_by(AdminAccount.name))).scalars().all()
        return [Account(r.name, Role[r.role], r.created_at) for r in rows]

    async def sign_in(self, name: str, password: str) -> tuple[str, SignedIn] | None:
        """A new session (its cookie token, and who it is) for the right password, else None."""
        async with self.db.sessions() as session:
            account = await session.scalar(select(AdminAccount).where(AdminAccount.name == name))
        if not await asyncio.to_thread(_verify, account.password_hash if account else None, password):
            return None
        if account is None:
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
            session.add(
                AdminSession(
                    token_hash=_token_hash(token),
                    account_id=account.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
            audit.record(session, now, account.name, "signed in")
        return token, SignedIn(account.name, Role[account.role], csrf)

    async def signed_in(self, token: str) -> SignedIn | None:
        """Who holds this cookie token, while the session lasts."""
        query = (
            select(AdminAccount.name, AdminAccount.role, AdminSession.csrf_token)
            .join(AdminAccount, AdminAccount.id == AdminSession.account_id)
            .where(AdminSession.token_hash == _token_hash(token), AdminSession.expires_at > self.clock.now())
        )
        async with self.db.sessions() as session:
            row = (await session.execute(query)).first()
        return SignedIn(row.name, Role[row.role], row.csrf_token) if row else None

    async def sign_out(self, token: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(AdminSession).where(AdminSession.token_hash == _token_hash(token)))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
