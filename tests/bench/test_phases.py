"""`python -m bench`'s phases: --only and --skip choose them, a typo is refused, and each phase's
section goes to its place in the document whatever the run order."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.__main__ import PHASE_NAMES, Phase, chosen_phases
from tests.bench.tables import row


def test_every_phase_by_default_in_run_order() -> None:
    assert [phase.name for phase in chosen_phases("", "")] == list(PHASE_NAMES)


def test_only_and_skip() -> None:
    assert [phase.name for phase in chosen_phases("sizes,coldstart", "")] == ["sizes", "coldstart"]
    assert "sandbox" not in [phase.name for phase in chosen_phases("", "sandbox")]
    assert [phase.name for phase in chosen_phases("sizes,sandbox", "sandbox")] == ["sizes"]


def test_an_unknown_phase_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown phase\(s\): sandboxx; choose from sizes"):
        chosen_phases("sandboxx", "")
    with pytest.raises(ValueError, match="coldstrat"):
        chosen_phases("", "coldstrat")


def test_a_new_phase_is_one_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A phase added to PHASES runs, records its seconds and puts its section by position."""

    def early(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
        seconds["early"] = 1.0
        return ["## early section", ""]

    def late(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
        seconds["late"] = 2.0
        return ["## late section", ""]

    phases = (Phase("late", late, position=90), Phase("early", early, position=5))
    monkeypatch.setattr(bench_main, "PHASES", phases)
    monkeypatch.setattr(bench_main, "PHASE_NAMES", ("late", "early"))
    output = tmp_path / "bench.md"
    assert bench_main.main(["--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert text.index("## early section") < text.index("## late section")
    assert (row(text, "phase", "early")["seconds"], row(text, "phase", "late")["seconds"]) == ("1", "2")
    assert "phases: late, early" in text
