"""A plan's visible state is a pure function of time, and only ever moves forward."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mockserver import Failure, Plan, TaskStatus

ORDER = [TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.COMPLETED]

plans = st.builds(
    lambda created, queue, span, failure: Plan(
        created, created + queue, created + queue + span, failure
    ),
    created=st.floats(0, 2e9),
    queue=st.floats(0, 600),
    span=st.floats(0, 3600),
    failure=st.none()
    | st.builds(Failure, st.just("service_error"), st.just("x"), st.integers(0, 99)),
)
offsets = st.lists(st.floats(0, 10_000), min_size=2, max_size=30)


def rank(status: TaskStatus) -> int:
    return 2 if status.terminal else ORDER.index(status)


@given(plans, offsets)
def test_status_and_progress_never_go_backward(plan: Plan, steps: list[float]) -> None:
    times = sorted(plan.created + s for s in steps)
    states = [(plan.status_at(t), plan.progress_at(t)) for t in times]

    assert [rank(s) for s, _ in states] == sorted(rank(s) for s, _ in states)
    assert [p for _, p in states] == sorted(p for _, p in states)
    assert all(0 <= p <= 100 for _, p in states)


@given(plans, offsets)
def test_a_terminal_state_never_changes(plan: Plan, steps: list[float]) -> None:
    ended = plan.ended
    later = [ended + s for s in steps]

    assert {(plan.status_at(t), plan.progress_at(t)) for t in later} == {
        (plan.final_status, 100 if plan.failure is None else plan.failure.at_progress)
    }


@given(plans, st.floats(0, 10_000))
def test_failing_from_now_ends_now_with_the_progress_reached(plan: Plan, offset: float) -> None:
    now = plan.created + offset
    if plan.status_at(now).terminal:
        return
    reached = plan.progress_at(now)

    failed = plan.failed_from(now, Failure("request_cancelled", "cancelled"))

    assert failed.status_at(now) is TaskStatus.FAILED
    assert failed.progress_at(now) == reached
    assert failed.ended <= now + 1e-6


def test_progress_is_floor_of_the_share_of_processing_done() -> None:
    plan = Plan(created=0, started=5, finished=45)

    assert [plan.progress_at(t) for t in (0, 4.999, 5, 5.4, 25, 44.99, 45)] == [
        0,
        0,
        0,
        1,
        50,
        99,
        100,
    ]


def test_estimated_time_is_when_the_task_completes() -> None:
    assert Plan(created=100, started=105, finished=145.2).estimated_time() == 46


@given(plans)
def test_a_completed_task_took_what_its_create_promised(plan: Plan) -> None:
    completed = plan._replace(failure=None)

    assert completed.duration() == completed.estimated_time()


def test_float_dust_adds_no_second_to_the_promise_or_the_duration() -> None:
    # 183.97722548020278 - 100.97722548020276 is 83.00000000000001, not 83
    plan = Plan(created=100.97722548020276, started=103.97722548020276, finished=183.97722548020278)

    assert (plan.estimated_time(), plan.duration()) == (83, 83)


def test_a_failure_before_processing_ends_when_processing_would_start() -> None:
    plan = Plan(
        created=0, started=5, finished=45, failure=Failure("content_policy_violation", "no", 0)
    )

    assert (plan.status_at(4.9), plan.status_at(5)) == (TaskStatus.PENDING, TaskStatus.FAILED)


def test_a_failure_mid_processing_ends_at_its_progress() -> None:
    plan = Plan(
        created=0, started=5, finished=45, failure=Failure("generation_timeout", "slow", 50)
    )

    assert (plan.status_at(24.9), plan.progress_at(24.9)) == (TaskStatus.PROCESSING, 49)
    assert (plan.status_at(25), plan.progress_at(25)) == (TaskStatus.FAILED, 50)
