"""The python fence kind: a page's python fences are one Python session, as
lines typed into one interpreter (a later fence uses the `client` an earlier
one made). An environment that runs them itself (in its sandbox) gets them;
otherwise they run in this process, in the page's current folder, with the
environment's variables, within their timeout, all undone after."""
from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import pytest

from .blocks import PythonBlock
from .contract import PythonFences
from .environment import SetupError
from .failures import BlockFailure, time_limit
from .kinds import BlockKind, Fence

if TYPE_CHECKING:
    from .pagerun import PageRun


def read_python(fence: Fence) -> PythonBlock:
    return PythonBlock(**fence.where(), content=fence.content)


def run_python(run: PageRun, block: PythonBlock, timeout: float) -> None:
    """What the fence prints is this test's output, shown on failure."""
    environment = run.environment
    if isinstance(environment, PythonFences) and environment.python_runner is not None:
        try:
            print(environment.python_runner.run(block.label, block.content, run.cwd(), timeout), end="")
        except SetupError as error:
            raise BlockFailure(f"{block.label}: {error}") from None
        return
    try:
        variables = environment.python_env() if isinstance(environment, PythonFences) else {}
    except SetupError as error:
        raise BlockFailure(f"{block.label}: {error}") from None
    # Line numbers of the fence are the page's: its code starts below the fence's first line.
    code = compile("\n" * block.line + block.content, block.path, "exec")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run.cwd())
        for key, value in variables.items():
            patch.setenv(key, value)
        try:
            with time_limit(block.label, timeout):
                exec(code, run.python_namespace)
        except (Exception, SystemExit) as error:  # Ctrl-C and TERM (KeyboardInterrupt) stop the run instead
            raise BlockFailure(fence_traceback(block, error)) from None


def fence_traceback(block: PythonBlock, error: BaseException) -> str:
    """The fence's code, numbered as on the page, and the traceback from its
    first frame on (the harness's frames above it say nothing to the reader)."""
    frames = traceback.extract_tb(error.__traceback__)
    first = next((index for index, frame in enumerate(frames) if frame.filename == block.path), len(frames))
    lines = block.content.rstrip("\n").split("\n")
    width = len(str(block.line + len(lines)))
    numbered = "\n".join(f"{number:>{width}}   {line}" for number, line in enumerate(lines, block.line + 1))
    where = "\n".join(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {(frame.line or "").strip()}'
                      for frame in frames[first:])
    fence = " " * width + "   ```"
    return (f"Error in code block:\n{fence}\n{numbered}\n{fence}\nTraceback (most recent call last):\n{where}\n"
            + "".join(traceback.format_exception_only(type(error), error)).rstrip())


PYTHON = BlockKind("python", frozenset({"py", "python", "python3"}), run_python, read_python)
