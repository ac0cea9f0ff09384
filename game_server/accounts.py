"""Accounts: register (or upgrade a guest), log in, refresh, log out.

A session is an access JWT (``auth.TokenIssuer``, 15 min) plus a refresh token
(``token_repo``, 7 days, rotated on every use, reuse revokes the family). Passwords are
argon2id (``passwords``). Wrong username and wrong password give the same error after the
same work: an unknown username is verified against a dummy hash. Rate limits and the
client address are the HTTP layer's business (``http_api``); this service never sees a
request.

Errors are ``AccountError(code, message)`` with the protocol's codes: ``unauthorized``
(bad credentials or refresh token), ``conflict`` (username taken, already registered).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from game_server.auth import Identity, TokenIssuer
from game_server.passwords import PasswordService
from game_server.token_repo import RefreshTokenRepo, RotateStatus
from game_server.user_repo import Account, UsernameTaken, UserRepo

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "wrong username or password"
BAD_REFRESH = "invalid refresh token"


class AccountError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful register, login or refresh hands the client."""

    account: Account
    access_token: str
    expires_in: int  # access token lifetime, s
    refresh_token: str

    def to_json(self) -> dict[str, object]:
        a = self.account
        return {"access_token": self.access_token, "token_type": "bearer",
                "expires_in": self.expires_in, "refresh_token": self.refresh_token,
                "user": {"id": str(a.id), "username": a.username,
                         "display_name": a.display_name, "is_guest": a.is_guest,
                         "timezone": a.timezone}}


class AccountService:
    """Accounts over the users and refresh-token repositories."""

    def __init__(self, users: UserRepo, tokens: RefreshTokenRepo, passwords: PasswordService,
                 issuer: TokenIssuer) -> None:
        self.users = users
        self.tokens = tokens
        self.passwords = passwords
        self.issuer = issuer

    async def register(self, username: str, password: str, display_name: str | None,
                       timezone: str, guest: Identity | None = None) -> Session:
        """A new account, or guest ``guest`` converted in place (same id). ``username``
        is already lowercased and validated. Raises AccountError ``conflict`` (username
        taken, or ``guest`` is already a full account) or ``unauthorized`` (``guest``'s
        user no longer exists)."""
        if guest is not None:
            current = await self.users.get_account(guest.user_id)
            if current is None:
                raise AccountError("unauthorized", "unknown user")
            if not current.is_guest:
                raise AccountError("conflict", "this account is already registered")
        password_hash = await self.passwords.hash(password)
        try:
            if guest is None:
                account = await self.users.create_account(
                    username, display_name or username, password_hash, timezone)
            else:
                upgraded = await self.users.upgrade_guest(
                    guest.user_id, username, display_name, password_hash, timezone)
                if upgraded is None:  # registered by a concurrent request meanwhile
                    raise AccountError("conflict", "this account is already registered")
                account = upgraded
        except UsernameTaken:
            raise AccountError("conflict", "username is taken") from None
        logger.info("account registered", extra={"user_id": str(account.id),
                                                 "upgraded": guest is not None})
        return await self._session(account)

    async def login(self, username: str, password: str) -> Session:
        """A new session (a new refresh-token family) for correct credentials; rehashes
        the password when the stored hash used older parameters. Raises AccountError
        ``unauthorized`` with one message for every failure."""
        found = await self.users.credentials(username)
        if found is None:
            await self.passwords.verify_dummy(password)
            raise AccountError("unauthorized", BAD_CREDENTIALS)
        account, password_hash = found
        if not await self.passwords.verify(password_hash, password):
            raise AccountError("unauthorized", BAD_CREDENTIALS)
        if self.passwords.needs_rehash(password_hash):
            await self.users.set_password_hash(account.id, await self.passwords.hash(password))
        return await self._session(account)

    async def guest(self, display_name: str) -> Session:
        """A new guest user and its session. Guests get a refresh token too (a new family),
        so a study session outlives the 15 min access token: a client that drops after that
        still reconnects as the same user and resumes its slot. Registering later keeps the
        user (:meth:`register` with the guest's identity)."""
        user = await self.users.create_guest(display_name)
        account = await self.users.get_account(user.id)
        if account is None:  # deleted in between: nothing to sign in to
            raise AccountError("unauthorized", "the guest was deleted")
        return await self._session(account)

    async def refresh(self, refresh_token: str) -> Session:
        """Spend a refresh token for a new access and refresh token. Raises AccountError
        ``unauthorized`` when it is unknown, expired, revoked or reused (reuse has revoked
        its whole family)."""
        rotation = await self.tokens.rotate(refresh_token, _now())
        if rotation.status is RotateStatus.REUSED:
            logger.warning("refresh token reused; family revoked",
                           extra={"user_id": str(rotation.user_id)})
        if rotation.issued is None:
            raise AccountError("unauthorized", BAD_REFRESH)
        account = await self.users.get_account(rotation.issued.user_id)
        if account is None:
            raise AccountError("unauthorized", BAD_REFRESH)
        return Session(account, self._access(account), self.issuer.ttl_s,
                       rotation.issued.token)

    async def logout(self, user_id: uuid.UUID, refresh_token: str) -> bool:
        """Revoke the family of ``refresh_token`` if it is ``user_id``'s; False otherwise
        (an unknown token is not an error: logging out twice is fine)."""
        return await self.tokens.revoke_family(refresh_token, user_id, _now())

    async def _session(self, account: Account) -> Session:
        issued = await self.tokens.issue(account.id, _now())
        return Session(account, self._access(account), self.issuer.ttl_s, issued.token)

    def _access(self, account: Account) -> str:
        return self.issuer.issue(Identity(account.id, account.display_name), int(time.time()))


def _now() -> datetime:
    return datetime.now(UTC)
