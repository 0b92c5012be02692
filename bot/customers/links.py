"""One-time link codes: a customer known elsewhere (a signup, the CRM) claims their chat identity.

A code is issued for an existing customer (CLI now, the API later) and put in a deep link such as
https://t.me/<bot>?start=<code>. The first chat identity that presents it joins that customer.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.customers.models import ChannelIdentity, Customer
from bot.messages import ChannelRef
from bot.storage.base import Base, utcnow

CODE_BYTES = 12  # 16 URL-safe characters; Telegram allows 64 in a start payload


class LinkCode(Base):
    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


async def issue(session: AsyncSession, customer_id: int, now: datetime, valid_for: timedelta) -> str:
    code = secrets.token_urlsafe(CODE_BYTES)
    session.add(LinkCode(code=code, customer_id=customer_id, created_at=now, expires_at=now + valid_for))
    await session.flush()
    return code


async def redeem(session: AsyncSession, code: str, ref: ChannelRef, now: datetime) -> Customer | None:
    """Attach `ref` to the code's customer; None when the code is unknown, used or expired."""
    if not code or len(code) > 64:
        return None
    link = (await session.execute(select(LinkCode).where(LinkCode.code == code).with_for_update())).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at < now:
        return None
    customer = await session.get(Customer, link.customer_id)
    if customer is None:
        return None
    link.used_at = now
    session.add(ChannelIdentity(customer_id=customer.id, channel=ref.channel, address=ref.address,
                                created_at=now, last_used_at=now))  # fmt: skip
    await session.flush()
    return customer
