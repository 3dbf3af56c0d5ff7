"""One MetaData per service: two services may each have a ``comments`` table in one process,
each service's MetaData holds its own tables and kit's, and nothing lands in
``SQLModel.metadata``."""

import uuid

import pytest
from sqlalchemy import create_engine, inspect
from sqlmodel import Field, SQLModel

from kit.api.idempotency import IdempotencyRecord
from kit.audit import AuditRecord
from kit.db import KIT_METADATA, NAMING_CONVENTION
from kit.db.metadata import service_metadata, service_registry

KIT_TABLES = {"outbox", "outbox_sequences", "processed_events", "audit_records"}


class ContentTable(SQLModel, registry=service_registry()):
    """A content service's base, as its models.py would declare it."""


class Comment(ContentTable, table=True):
    __tablename__ = "comments"

    id: uuid.UUID = Field(primary_key=True)
    reply_to: uuid.UUID | None = Field(default=None, foreign_key="comments.id")
    body: str = Field(max_length=500)


class RewardsTable(SQLModel, registry=service_registry(IdempotencyRecord)):
    """A rewards service's base, which also stores the idempotency replay record."""


class RewardsComment(RewardsTable, table=True):
    __tablename__ = "comments"

    id: int = Field(primary_key=True)
    wallet_id: uuid.UUID = Field(foreign_key="wallets.id")


class Wallet(RewardsTable, table=True):
    __tablename__ = "wallets"

    id: uuid.UUID = Field(primary_key=True)


def test_kit_tables_live_in_kit_metadata() -> None:
    assert set(KIT_METADATA.tables) == KIT_TABLES
    assert AuditRecord.__table__.metadata is KIT_METADATA  # type: ignore[attr-defined]
    assert "idempotency_records" not in KIT_METADATA.tables


def test_two_services_each_have_a_comments_table() -> None:
    content, rewards = ContentTable.metadata, RewardsTable.metadata
    assert content is not rewards
    assert Comment.__table__.metadata is content  # type: ignore[attr-defined]
    assert RewardsComment.__table__.metadata is rewards  # type: ignore[attr-defined]
    assert set(content.tables["comments"].c.keys()) == {"id", "reply_to", "body"}
    assert set(rewards.tables["comments"].c.keys()) == {"id", "wallet_id"}


def test_a_service_metadata_is_its_tables_and_kits() -> None:
    assert set(ContentTable.metadata.tables) == KIT_TABLES | {"comments"}
    assert set(RewardsTable.metadata.tables) == (
        KIT_TABLES | {"idempotency_records", "comments", "wallets"}
    )
    assert ContentTable.metadata.naming_convention == NAMING_CONVENTION


def test_nothing_lands_in_the_global_metadata() -> None:
    assert not SQLModel.metadata.tables


def test_each_schema_builds_with_its_keys_resolved() -> None:
    for metadata, table, referred in [
        (ContentTable.metadata, "comments", "comments"),
        (RewardsTable.metadata, "comments", "wallets"),
    ]:
        engine = create_engine("sqlite://")
        metadata.create_all(engine)
        schema = inspect(engine)
        assert set(schema.get_table_names()) == set(metadata.tables)
        assert [key["referred_table"] for key in schema.get_foreign_keys(table)] == [referred]
        assert schema.get_pk_constraint("outbox")["name"] == "pk_outbox"
        with engine.connect() as connection:
            triggers = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).scalars()
            assert list(triggers) == ["outbox_order"], "the copied outbox lost its ordering"
        engine.dispose()


def test_only_kits_opt_in_tables_may_be_named() -> None:
    with pytest.raises(ValueError, match="AuditRecord"):
        service_metadata(AuditRecord)
