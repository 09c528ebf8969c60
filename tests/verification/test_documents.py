"""The document rules of 番号法16条 (verification.documents): what makes a 本人確認 and what to photograph."""

from __future__ import annotations

import pytest

from verification.documents import (
    KINDS,
    NOT_ACCEPTED,
    NUMBER_CHOICES,
    PHOTO_ID_CHOICES,
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


@pytest.mark.parametrize(
    "code",
    [
        "drivers_license",
        "driving_history",
        "passport",
        "disability_certificate",
        "mental_health_certificate",
        "rehabilitation_certificate",
        "residence_card",
        "special_permanent",
    ],
)
def test_every_photo_id_of_the_ordinance_alone_makes_the_identity_check(code: str) -> None:
    """施行規則1条1項1号: each of these photo IDs is enough for 身元確認 on its own."""
    assert code in {kind.code for kind in PHOTO_ID_CHOICES}
    assert plan_documents("resident_record", [code]).identity_documents[0].code == code
    assert checks_of(["resident_record", code]) == (True, True)


def test_the_labels_say_the_conditions_of_the_driving_history_and_the_resident_record() -> None:
    assert "2012年4月1日以降" in KINDS["driving_history"].label
    assert "住民票記載事項証明書" in KINDS["resident_record"].label
