"""Password hashing: argon2id (argon2-cffi), off the event loop, with bounded concurrency.

argon2-cffi's defaults are RFC 9106's second recommended option (argon2id, t=3, 64 MiB,
p=4), which also meets OWASP's password-storage guidance; settings may lower the cost for
tests only. Each hash or verification costs tens of milliseconds of CPU and
``memory_kib`` of RAM, so it runs in a worker thread (``asyncio.to_thread``) and at most
``concurrency`` run at once; at most ``queue_max`` more wait for a slot, and anything beyond
that fails fast with ``PasswordBusy`` (the HTTP layer answers 503 ``rate_limited``), so a
login storm can neither starve the event loop nor exhaust memory.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")


class PasswordBusy(Exception):
    """Too many password operations are running or waiting; retry shortly."""


class PasswordService:
    """Hashes and verifies passwords with one argon2id parameter set."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int,
                 concurrency: int, queue_max: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism)
        self._slots = asyncio.Semaphore(concurrency)
        self._limit = concurrency + queue_max
        self._pending = 0
        self._dummy_hash: str | None = None

    @property
    def pending(self) -> int:
        """Operations running or waiting for a slot."""
        return self._pending

    async def hash(self, password: str) -> str:
        """The PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) of ``password``.
        Raises PasswordBusy when the queue is full."""
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (constant-time inside argon2);
        False for a malformed hash. Raises PasswordBusy when the queue is full."""
        return await self._bounded(self._verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the same work as a real verification, for a user that does not exist, so
        a wrong username and a wrong password take similar time."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _bounded(self, fn: Callable[..., T], *args: str) -> T:
        """Run ``fn(*args)`` in a thread once a slot is free. The slot stays taken until
        the thread ends, even if the caller is cancelled meanwhile (a thread cannot be
        stopped), so ``concurrency`` really bounds the CPU and memory in use."""
        if self._pending >= self._limit:
            raise PasswordBusy("too many password checks in progress")
        self._pending += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self._pending -= 1
            raise
        work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        work.add_done_callback(self._release)
        return await asyncio.shield(work)

    def _release(self, work: asyncio.Future[Any]) -> None:
        self._slots.release()
        self._pending -= 1
        if not work.cancelled():
            work.exception()  # a cancelled caller abandoned it: mark any failure as seen
