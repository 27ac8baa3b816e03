"""The emulator's ListTrainingJobsForHyperParameterTuningJob pages as the API does: MaxResults 1-100
(default 10), NextToken while more trials remain (API_ListTrainingJobsForHyperParameterTuningJob)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.sagemaker.errors import SageMakerError
from sandbox.sagemaker.tuning import _page

TRIALS = [{"TrainingJobName": f"snowsage-t-{index:03d}-abcd"} for index in range(1, 24)]


def names(answer: dict[str, Any]) -> list[str]:
    return [summary["TrainingJobName"] for summary in answer["TrainingJobSummaries"]]


def test_pages_follow_next_token_to_the_last_trial() -> None:
    seen: list[str] = []
    request: dict[str, Any] = {}
    pages = 0
    while True:
        answer = _page(TRIALS, request)
        seen += names(answer)
        pages += 1
        if "NextToken" not in answer:
            break
        request = {"NextToken": answer["NextToken"]}
    assert (seen, pages) == ([trial["TrainingJobName"] for trial in TRIALS], 3)  # 10 + 10 + 3


def test_a_page_holds_at_most_max_results_and_the_range_is_enforced() -> None:
    assert len(names(_page(TRIALS, {"MaxResults": 100}))) == 23
    assert "NextToken" not in _page(TRIALS, {"MaxResults": 100})
    for refused in (0, 101):
        with pytest.raises(SageMakerError, match="maxResults"):
            _page(TRIALS, {"MaxResults": refused})
