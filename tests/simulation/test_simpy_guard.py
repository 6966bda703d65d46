"""The simulator reads ``simpy.Event._value`` (private, for speed); simpy is pinned in
pyproject.toml, and this test fails loudly if a simpy release changes that attribute."""

from __future__ import annotations

import simpy


def test_a_fired_events_private_value_is_its_value() -> None:
    env = simpy.Environment()
    seen: list[object] = []
    event = env.timeout(1.5, value=("payload", 7))
    event.callbacks.append(lambda ev: seen.append(ev._value))
    env.run()
    assert seen == [("payload", 7)] == [event.value]
    assert simpy.__version__ == "4.1.2"  # the version this was checked against (the pin)
