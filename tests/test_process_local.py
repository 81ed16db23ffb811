"""``PerProcess``: one value per process, a new one in a forked child."""

from __future__ import annotations

import ast
import itertools
import os
import sys

import pytest

from flask_fanout.process_local import PerProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork")


def test_a_value_is_built_once_per_process_and_anew_after_fork() -> None:
    made = itertools.count()
    value = PerProcess(lambda: (os.getpid(), next(made)))
    parent = value.get()
    assert value.get() is parent and value.peek() is parent
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what it sees, then leave at once
        try:
            seen = (value.peek() is None, value.get(), value.get() is value.get())
            os.write(write, repr(seen).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        unbuilt, built, kept = ast.literal_eval(answer.read())
    os.waitpid(child, 0)
    assert unbuilt, "the parent's value is not the child's"
    assert built == (child, 1) and kept
    assert value.get() is parent, "the parent keeps its own"
