"""How a CLI process behaves: headless rendering defaults, how it ends on a signal, how it
prints warnings; as a shell user and a log file expect."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def headless_defaults() -> None:
    """Defaults set before gymnasium or wandb is imported; a user's own setting wins.
    (MUJOCO_GL: envs/factory.py sets egl on display-less Linux.)"""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame-ce renders without a screen
    # wandb mistakes our `agents` package for the OpenAI Agents SDK and advertises Weave.
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so the same crash save runs;
    the exit status still names the signal (128 + 15, as a shell reports a killed job)."""


def interrupt_on_sigterm(signum: int, frame: Any) -> None:
    """`kill` or a job scheduler's SIGTERM ends a run as Ctrl-C does: checkpoint, then exit."""
    raise Terminated(f"signal {signum}")


def install_sigterm_handler() -> None:
    signal.signal(signal.SIGTERM, interrupt_on_sigterm)


class StopAtStepEnd:
    """While active, Ctrl-C, SIGTERM and a cluster's time-out signal wait for the training step
    under way to end: `check()`, called between steps, then acts as the signal would have
    (KeyboardInterrupt, Terminated, or the handler that was installed for it: submitit's
    requeue on SIGUSR2).

    A checkpoint saved between steps holds a consistent state (the buffer, the counters, the envs
    and the observation acted on all of one step), which is what makes a resume exact. A second
    signal acts at once, for a step that hangs (an env stuck in its simulator). Signals can be
    caught only in the main thread; elsewhere they keep their handlers.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopAtStepEnd:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._hold)
        usr2 = getattr(signal, "SIGUSR2", None)  # not on Windows
        if usr2 is not None and callable(signal.getsignal(usr2)):  # e.g. submitit's requeue
            self.previous[usr2] = signal.signal(usr2, self._hold)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _hold(self, signum: int, frame: Any) -> None:
        if self.pending is not None:
            self._act(signum, frame)
        self.pending = signum

    def check(self) -> None:
        if self.pending is not None:
            self._act(self.pending, None)

    def _act(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            raise Terminated(f"signal {signum}")
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.previous[signum](signum, frame)


_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored inside: for writing the checkpoint of a run that is
    stopping already, which a second signal (a launcher and a user both sending one, `pkill`
    matching every process of a sweep) would otherwise cut short, losing everything since the
    last periodic checkpoint, and a population's members with it. A write that hangs (a stalled
    disk) then needs SIGKILL. Signals can be set only in the main thread; elsewhere, as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _STOPPING}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class EndWithParent:
    """Within it, this process stops as on SIGTERM when the process that started it is gone,
    and once that stop is handled, exits at once.

    For a joblib sweep's job: its worker process belongs to the sweep's process, and killed or
    crashed, that process no longer collects results, while its workers would train on
    unattended into run dirs that a relaunched sweep resumes. The job saves its checkpoint as
    on the sweep's own Ctrl-C; its worker then exits instead of waiting for tasks from a sweep
    that is gone (loky's workers do not notice it). Polls the parent pid once a second."""

    def __init__(self, poll_seconds: float = 1.0) -> None:
        self.parent = os.getppid()
        self.poll_seconds = poll_seconds
        self.orphaned = False
        self._done = threading.Event()

    def __enter__(self) -> EndWithParent:
        threading.Thread(target=self._watch, name="end-with-parent", daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(self.poll_seconds):
            if os.getppid() != self.parent:
                self.orphaned = True
                os.kill(os.getpid(), signal.SIGTERM)  # the main thread saves and unwinds
                return

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> None:
        self._done.set()
        if self.orphaned:
            code = exc.code if isinstance(exc, SystemExit) else 128 + signal.SIGTERM
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")  # gymnasium colours its warnings for a terminal


def plain_warnings() -> None:
    """Command-line runs print a warning as one `warning: ...` line (like their `error:` lines),
    not Python's `file:line: UserWarning: ...` plus a source line, and without terminal colour
    codes (they end up in logs); library use is unchanged."""
    warnings.formatwarning = lambda message, *_args, **_kwargs: (
        f"warning: {ANSI_COLOR.sub('', str(message))}\n"
    )
