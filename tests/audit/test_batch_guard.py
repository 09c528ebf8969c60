"""A bulk append's guard (``event_rows``): the same entries as one at a time, its checks made over the batch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import event_row, event_rows
from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.guard import REDACTED_DIGITS, AuditContentError, redact_client_text, redact_client_texts
from tests.audit.conftest import make_event

TENANT = uuid.uuid4()


def test_a_batch_gives_the_rows_each_event_gives_alone() -> None:
    events = [make_event(TENANT, n) for n in range(50)]
    events.append(make_event(TENANT, 50, actor=Actor(None, "1234 5678 9018", "x", "admin", "org")))
    events.append(make_event(TENANT, 51, subject=Subject(uuid.uuid4(), "番号123456789018の人")))
    assert event_rows(events) == [event_row(event) for event in events]
    assert REDACTED_DIGITS in event_rows(events)[-1]["subject_name"]
    assert REDACTED_DIGITS in event_rows(events)[-2]["actor_login_id"]


@pytest.mark.parametrize("field", ["function", "purpose", "actor_role"])
def test_a_digit_run_in_a_composed_field_refuses_the_batch_naming_the_field(field: str) -> None:
    changes: dict[str, dict[str, Any]] = {
        "function": {"function": "出力 123456789018"},
        "purpose": {"purpose": "目的123456789018"},
        "actor_role": {"actor": Actor(None, "a", "b", "123456789018", "org")},
    }
    bad = changes[field]
    events = [make_event(TENANT, n) for n in range(20)] + [make_event(TENANT, 20, **bad)]
    with pytest.raises(AuditContentError, match=field):
        event_rows(events)


def test_a_digit_run_in_one_detail_refuses_the_batch() -> None:
    events = [make_event(TENANT, n) for n in range(20)]
    events.append(AuditEvent(TENANT, AuditAction.UPDATE, Actor.system(), "修正", detail={"note": "123456789018"}))
    with pytest.raises(AuditContentError, match="detail"):
        event_rows(events)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="0123 -ー１２３４５６７８９０①a\u200b漢", max_size=40)), max_size=12)
)
def test_client_texts_redacted_together_as_alone(values: list[str | None]) -> None:
    together = redact_client_texts(values)
    assert {value: together[value] for value in values} == {value: redact_client_text(value) for value in values}
