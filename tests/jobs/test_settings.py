"""The jobs' settings: embedded defaults, SAQ only on a Redis URL, numbers checked with the variable named."""

from __future__ import annotations

import pytest

from app.config import SettingsError, load_settings


def test_the_defaults_run_jobs_in_the_app_from_the_database() -> None:
    settings = load_settings({})
    assert (settings.job_queue_url, settings.jobs_in_app, settings.job_concurrency) == ("", True, 1)
    assert (settings.job_stale_seconds, settings.job_report_hours, settings.job_poll_seconds) == (120, 24, 2.0)


def test_a_redis_url_selects_saq() -> None:
    settings = load_settings({"MNV_JOB_QUEUE_URL": "redis://127.0.0.1:6379/0", "MNV_JOB_CONCURRENCY": "3"})
    assert (settings.job_queue_url, settings.job_concurrency) == ("redis://127.0.0.1:6379/0", 3)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MNV_JOB_QUEUE_URL", "postgresql://db/jobs"),
        ("MNV_JOB_CONCURRENCY", "0"),
        ("MNV_JOB_POLL_SECONDS", "0"),
        ("MNV_JOB_STALE_SECONDS", "-5"),
        ("MNV_JOB_REPORT_HOURS", "zero"),
        ("MNV_JOBS_IN_APP", "maybe"),
    ],
)
def test_bad_job_settings_are_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})
