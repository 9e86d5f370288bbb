"""The streams' first-byte deadline: a timeout of its own, never a swallowed cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bordergate.upstream.dispatch import first_byte_deadline


async def _answer(delay: float, value: str = "ok") -> str:
    await asyncio.sleep(delay)
    return value


def test_result_in_time_is_returned() -> None:
    assert asyncio.run(first_byte_deadline(_answer(0.0), 1.0)) == "ok"


def test_late_first_byte_is_a_timeout_and_the_task_goes_on() -> None:
    async def scenario() -> str:
        with pytest.raises(TimeoutError):
            await first_byte_deadline(_answer(5.0), 0.02)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        return await _answer(0.0, "still usable")

    assert asyncio.run(scenario()) == "still usable"


def test_outside_cancellation_is_not_turned_into_a_timeout() -> None:
    async def scenario() -> None:
        inner = asyncio.ensure_future(first_byte_deadline(_answer(5.0), 10.0))
        await asyncio.sleep(0.01)
        inner.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await inner

    asyncio.run(scenario())


def test_no_timer_is_left_behind() -> None:
    async def scenario() -> None:
        await first_byte_deadline(_answer(0.0), 0.05)
        await asyncio.sleep(0.1)  # a leftover timer would cancel this sleep

    asyncio.run(scenario())
