"""The document rules of 番号法16条 (verification.documents): what makes a 本人確認 and what to photograph."""

from __future__ import annotations

import pytest

from verification.documents import (
    NOT_ACCEPTED,
    NUMBER_CHOICES,
    DocumentChoiceInvalid,
    checks_of,
    plan_documents,
)


def test_a_mynumber_card_alone_covers_both_checks_with_its_front_and_back() -> None:
    plan = plan_documents("mynumber_card", [])
    assert plan.identity_documents == ()
    assert [(slot.side.code, slot.side.required) for slot in plan.slots] == [("front", True), ("back", True)]
    assert checks_of(["mynumber_card"]) == (True, True)


def test_a_mynumber_card_needs_no_other_document() -> None:
    with pytest.raises(DocumentChoiceInvalid, match="両方を兼ねます"):
        plan_documents("mynumber_card", ["passport"])


def test_a_number_document_with_one_photo_id_is_enough() -> None:
    plan = plan_documents("resident_record", ["drivers_license", ""])
    assert [kind.code for kind in plan.kinds] == ["resident_record", "drivers_license"]
    assert not plan.needs_notification_card_confirmation
    assert checks_of(["resident_record", "drivers_license"]) == (True, True)


def test_a_notification_card_asks_the_user_to_confirm_it_is_still_valid() -> None:
    assert plan_documents("notification_card", ["passport"]).needs_notification_card_confirmation


def test_two_different_non_photo_documents_make_an_identity_check() -> None:
    plan = plan_documents("notification_card", ["health_insurance", "pension_book"])
    assert len(plan.identity_documents) == 2
    assert checks_of(["notification_card", "health_insurance", "pension_book"]) == (True, True)


@pytest.mark.parametrize(
    "identity",
    [
        [],  # nothing for 身元確認
        ["health_insurance"],  # one non-photo document is not enough
        ["health_insurance", "health_insurance"],  # the same one twice
        ["passport", "health_insurance"],  # mixed: one photo ID is the rule
        ["passport", "drivers_license"],  # two photo IDs: choose one
        ["resident_record"],  # a number document is not an identity document
        ["nonsense"],
    ],
)
def test_an_identity_choice_that_is_not_one_photo_id_or_two_others_is_refused(identity: list[str]) -> None:
    with pytest.raises(DocumentChoiceInvalid):
        plan_documents("resident_record", identity)


@pytest.mark.parametrize("number_document", ["", "passport", "notification_letter", "個人番号通知書"])
def test_only_the_card_the_notification_card_and_the_resident_record_prove_the_number(number_document: str) -> None:
    with pytest.raises(DocumentChoiceInvalid) as refused:
        plan_documents(number_document, ["passport"])
    assert NOT_ACCEPTED in refused.value.message
    assert {kind.code for kind in NUMBER_CHOICES} == {"mynumber_card", "notification_card", "resident_record"}


def test_a_photo_id_alone_proves_no_number() -> None:
    assert checks_of(["passport"]) == (False, True)
    assert checks_of(["health_insurance"]) == (False, False)


def test_slots_have_distinct_field_names() -> None:
    plan = plan_documents("resident_record", ["health_insurance", "pension_book"])
    fields = [slot.field for slot in plan.slots]
    assert len(fields) == len(set(fields))
