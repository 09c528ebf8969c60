"""The shared table of typed numbers: the server's rule and the browser check give the same answer for each."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.vault.numbers import InvalidNumber, is_repeated_digit, normalize_my_number

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "number_cases.json").read_text())["cases"]
SCRIPT = Path(__file__).resolve().parents[2] / "app" / "static" / "number-check.js"


def _expected(case: dict[str, Any]) -> dict[str, str]:
    return {"value": case["expected"]} if "expected" in case else {"error": case["error"]}


def _server(text: str) -> dict[str, str]:
    try:
        return {"value": normalize_my_number(text)}
    except InvalidNumber as exc:
        return {"error": exc.code}


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_the_server_gives_the_tables_answer(case: dict[str, Any]) -> None:
    assert _server(case["input"]) == _expected(case)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_browser_check_gives_the_tables_answer_for_every_case() -> None:
    script = (
        "const {normalize, assess} = require(process.argv[1]);"
        "const inputs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(inputs.map((t) => [normalize(t), assess(t, true, false)])));"
    )
    inputs = [case["input"] for case in CASES]
    result = subprocess.run(
        ["node", "-e", script, str(SCRIPT)], input=json.dumps(inputs), capture_output=True, text=True, check=True
    )
    answers = json.loads(result.stdout)

    for case, (normalized, (_, blocking)) in zip(CASES, answers, strict=True):
        assert normalized == _expected(case), case["why"]
        assert blocking == ("error" in case), case["why"]


def test_a_pasted_number_with_invisible_characters_is_not_refused_as_non_digits() -> None:
    # Found in the field trial: the server said 数字以外の文字 while the browser check said it was fine.
    assert normalize_my_number("\ufeff1234\u200b5678\u200b9018") == "123456789018"
    assert is_repeated_digit("\u200b1111 1111 1111")
