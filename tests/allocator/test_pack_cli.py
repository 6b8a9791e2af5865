"""`python -m allocator.pack`: what benchmark scripts and reviewers of the packer rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# 2 dimensions, bins of 10×10; 3 types: four items of (6,2), four of (4,8), one of (5,5)
INSTANCE = "2\n10 10\n3\n6 2 4\n4 8 4\n5 5 1\n"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "allocator.pack", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def check_placement(text: str, answer: dict) -> None:
    """Every item in exactly one agent, no agent over capacity, in every dimension."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    dims = int(lines[0][0])
    cap = [int(v) for v in lines[1]]
    sizes = []
    for row in lines[3 : 3 + int(lines[2][0])]:
        sizes += [[int(v) for v in row[:dims]]] * int(row[dims])
    seen = sorted(i for agent in answer["placement"] for i in agent)
    assert seen == list(range(len(sizes)))
    for agent in answer["placement"]:
        for d in range(dims):
            assert sum(sizes[i][d] for i in agent) <= cap[d]
    assert answer["agents"] == len(answer["placement"])
    assert answer["lower_bound"] <= answer["agents"]


@pytest.mark.parametrize("effort", ["thorough", "fast"])
def test_packs_a_file_into_valid_agents(tmp_path: Path, effort: str) -> None:
    path = tmp_path / "small.vbp"
    path.write_text(INSTANCE)
    done = run(str(path), "--effort", effort)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    check_placement(INSTANCE, answer)
    # (6,2)+(4,8) fill an agent exactly, four times over; the (5,5) needs a fifth agent
    assert answer["lower_bound"] == 5
    if effort == "thorough":
        assert answer["agents"] == 5
    assert answer["unplaced"] == []


def test_reads_stdin_and_numbers_copies_in_file_order() -> None:
    done = run("-", stdin="1\n10\n2\n7 2\n3 2\n")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    # items 0 and 1 are the copies of size 7, items 2 and 3 those of size 3
    assert sorted(answer["placement"]) == [[0, 2], [1, 3]] or sorted(answer["placement"]) == [
        [0, 3],
        [1, 2],
    ]


def test_an_item_larger_than_an_agent_is_reported_unplaced() -> None:
    done = run("-", stdin="2\n10 10\n2\n11 1 1\n5 5 2\n")
    assert done.returncode == 1
    answer = json.loads(done.stdout)
    assert answer["unplaced"] == [0]
    assert answer["agents"] == 1


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "at least 3 lines"),
        ("2\n10\n1\n1 1 1\n", "expected 2 capacities"),
        ("2\n10 10\n2\n1 1 1\n", "expected 2 item types"),
        ("2\n10 x\n1\n1 1 1\n", "'x' is not a number"),
        ("1\n10\n1\n3 1.5\n", "whole number"),
        ("1\n10\n1\nnan 1\n", "finite number"),
        ("1\n10\n1\n3 -1\n", "whole number ≥ 0"),
        ("1\n10\n1\n3 1e11\n", "at most 1,000,000"),
    ],
)
def test_unreadable_input_says_where(text: str, says: str) -> None:
    done = run("-", stdin=text)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stdout == ""
