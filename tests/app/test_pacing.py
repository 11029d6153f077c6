"""Step frames paced by the page's painting (app/pacing.py, docs/protocol.md §5)."""

from __future__ import annotations

import math

import pytest

from app.pacing import PaintCredit


def test_a_client_that_never_reports_is_not_paced():
    credit = PaintCredit()
    for seq in range(10):
        credit.sent("r0", seq, now=0.0)
    assert credit.wait("r0", now=0.0) == 0.0


def test_after_the_first_report_one_unpainted_frame_closes_the_window():
    credit = PaintCredit()
    credit.painted("r0", 0, now=0.0)
    assert credit.wait("r0", now=0.0) == 0.0
    credit.sent("r0", 5, now=0.0)
    assert credit.wait("r0", now=0.1) == math.inf


def test_painting_a_frame_opens_the_window_again():
    credit = PaintCredit()
    credit.painted("r0", 0, now=0.0)
    credit.sent("r0", 5, now=0.0)
    credit.painted("r0", 5, now=0.0)
    assert credit.wait("r0", now=0.1) == 0.0
    assert len(credit.in_flight) == 0


def test_a_report_also_settles_every_frame_sent_before_it():
    credit = PaintCredit(window=2)
    credit.painted("r0", 0, now=0.0)
    credit.sent("r0", 3, now=0.0)
    credit.sent("r1", 4, now=0.0)  # a second run's frame of the same turn
    credit.sent("r0", 7, now=0.0)
    credit.painted("r0", 7, now=0.0)  # the page painted only the newest
    assert list(credit.in_flight) == []


def test_frames_sent_after_the_painted_one_stay_in_flight():
    credit = PaintCredit(window=2)
    credit.painted("r0", 0, now=0.0)
    credit.sent("r0", 3, now=0.0)
    credit.sent("r0", 7, now=0.0)
    credit.painted("r0", 3, now=0.0)
    assert [seq for _, seq, _ in credit.in_flight] == [7]


def test_only_the_main_runs_frames_count_against_the_window():
    credit = PaintCredit()
    credit.painted("r0", 0, now=0.0)
    credit.sent("r1", 3, now=0.0)
    assert credit.wait("r0", now=0.0) == 0.0
    assert credit.wait("r1", now=0.0) == math.inf


def test_a_report_that_never_comes_does_not_freeze_the_picture():
    credit = PaintCredit(stall_s=1.0)
    credit.painted("r0", 0, now=0.0)
    credit.sent("r0", 1, now=10.0)
    assert credit.wait("r0", now=10.9) == math.inf
    assert credit.wait("r0", now=11.1) == 0.0


def test_in_flight_stays_bounded_when_reports_stop():
    credit = PaintCredit(stall_s=1e9)
    credit.painted("r0", 0, now=0.0)
    for seq in range(1000):
        credit.sent("r1", seq, now=0.0)
    assert len(credit.in_flight) == 64


def test_the_next_frame_waits_until_the_page_wants_it():
    credit = PaintCredit()
    credit.painted("r0", 0, ready_in=0.06, now=0.0)
    assert credit.wait("r0", now=0.05) == pytest.approx(0.01)
    assert credit.wait("r0", now=0.061) == 0.0


def test_a_frame_in_flight_makes_the_wait_open_ended():
    credit = PaintCredit()
    credit.painted("r0", 0, now=0.0)
    credit.sent("r0", 1, now=0.0)
    assert credit.wait("r0", now=0.1) == math.inf
def test_a_report_settles_the_other_runs_frames_of_its_turn():
    # promoting r1 to the main run must not wait for a report on frames the page never drew
    credit = PaintCredit()
    credit.painted("r0", 0, now=0.0)
    for seq in (3, 4, 5, 6):  # turns: r0@3 r1@4, then r0@5 r1@6
        credit.sent("r0" if seq % 2 else "r1", seq, now=0.0)
    credit.painted("r0", 3, now=0.0)
    assert [(r, s) for r, s, _ in credit.in_flight] == [("r0", 5), ("r1", 6)]
    credit.painted("r0", 5, now=0.0)
    assert credit.wait("r1", now=0.0) == 0.0
