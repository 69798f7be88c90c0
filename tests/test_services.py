"""The studio's shared engines: created once, and different engines load at the same time."""

from __future__ import annotations

import threading

from engines import registry
from studio.config import StudioPaths
from studio.services import Studio


def test_two_engines_load_at_once_and_each_only_once(tmp_path):
    """A render loads the voice model on one thread while the face model loads on another: the second
    engine must not wait for the first to finish loading (here the first waits for the second)."""
    second_started = threading.Event()
    made: list[str] = []

    @registry.register("test-role", "slow")
    def slow(**_):
        made.append("slow")
        assert second_started.wait(10), "the second engine could not start while the first was loading"
        return "slow engine"

    @registry.register("test-role", "quick")
    def quick(**_):
        made.append("quick")
        second_started.set()
        return "quick engine"

    studio = Studio(StudioPaths(tmp_path))
    got: dict[str, str] = {}
    first = threading.Thread(target=lambda: got.setdefault("slow", studio.engine("test-role", "slow")))
    first.start()
    while "slow" not in made:
        threading.Event().wait(0.01)
    got["quick"] = studio.engine("test-role", "quick")
    first.join(15)
    assert got == {"slow": "slow engine", "quick": "quick engine"}
    # asked again (from two threads at once), each engine is the one already made
    twice = [threading.Thread(target=studio.engine, args=("test-role", "slow")) for _ in range(2)]
    for t in twice:
        t.start()
    for t in twice:
        t.join(5)
    assert sorted(made) == ["quick", "slow"]
