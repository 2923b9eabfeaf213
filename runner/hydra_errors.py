"""What Hydra refuses while composing a config, as one `error: ...` line and exit status 2.

train.py and evaluate.py report every other bad input that way. Hydra's own report of a
composition error is several lines and exit status 1: for an `env=` that names no file in
configs/env/, the top-level options (not configs/env/dm_control/), the config search path and a
hint about HYDRA_FULL_ERROR. Hydra raises the exception instead of reporting it when
HYDRA_FULL_ERROR is set, which is how `run_cli` gets it to word it here, until the job starts
(`job_started`); a user who sets HYDRA_FULL_ERROR=1 themselves still gets Hydra's traceback.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

from configs import CONFIG_DIR
from runner.errors import RefusedJob

# OmegaConf appends these detail lines to its messages; the key is already in the first line.
_DETAIL_PREFIXES = ("full_key:", "reference_type=", "object_type=", "See https://hydra.cc")
_FULL_ERROR = "HYDRA_FULL_ERROR"
_saved: dict[str, str | None] = {}  # the user's HYDRA_FULL_ERROR while run_cli holds it at "1"


def run_cli(main: Callable[[], object]) -> None:
    """Call a `@hydra.main` function; an error Hydra raises before the job starts (composing
    the config, making the run dir) ends the process with one `error:` line and exit status 2,
    and so does a sweep with a job refused on bad input (RefusedJob; the job printed why).
    The job itself must call `job_started()` first: from there on errors are as without this."""
    try:
        if os.environ.get(_FULL_ERROR) == "1":  # the user asked for Hydra's full traceback
            main()
            return
        _saved[_FULL_ERROR] = os.environ.get(_FULL_ERROR)
        os.environ[_FULL_ERROR] = "1"
        try:
            main()
        except (HydraException, OmegaConfBaseException, OSError) as error:
            if _FULL_ERROR not in _saved:  # raised inside a job: not a composition error
                raise
            print(f"error: {one_line(error)}", file=sys.stderr)
            sys.exit(2)
        finally:
            job_started()
    except RefusedJob as refused:
        print(
            f"error: sweep job {refused} stopped on bad input (its error line is above; "
            f"Hydra ran the other jobs of its batch)",
            file=sys.stderr,
        )
        sys.exit(2)


def job_started(*, multirun: bool = False) -> None:
    """Give HYDRA_FULL_ERROR back to the user (and to child processes) once Hydra has composed
    the job's config: a crash inside the job keeps Hydra's usual report. A sweep's job keeps
    it set: Hydra raises a failed job's exception in the sweep's process, and run_cli words
    a RefusedJob there only if Hydra raises it as it is instead of printing a report."""
    if _FULL_ERROR not in _saved or multirun:
        return
    previous = _saved.pop(_FULL_ERROR)
    if previous is None:
        os.environ.pop(_FULL_ERROR, None)
    else:
        os.environ[_FULL_ERROR] = previous


def one_line(error: BaseException) -> str:
    """Hydra's or OmegaConf's message, with its cause, on one line."""
    if isinstance(error, OSError) and error.filename:  # Hydra making the run dir: a file there
        return f"cannot create {error.filename}: {error.strerror}"
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        return missing_config(error.missing_cfg_file, list(error.options or []))
    lines = _message_lines(error)
    if isinstance(error, OverrideParseException):  # its message lacks the override itself
        lines = [f"cannot parse the override '{error.override}'", *lines]
    head, rest = (lines[0].rstrip("."), lines[1:]) if lines else (type(error).__name__, [])
    cause = error.__cause__
    if isinstance(cause, OmegaConfBaseException) and _message_lines(cause):
        head = f"{head}: {_message_lines(cause)[0]}"
    return "; ".join([head, *rest])


def missing_config(missing: str, options: list[str]) -> str:
    """`env=NoSuch`: the file it looked for, close matches, and every option (dm_control too)."""
    if missing.startswith("env/"):  # env=dm_control/x looks for env/dm_control/x
        group, name = "env", missing.removeprefix("env/")
        options = sorted(
            path.relative_to(CONFIG_DIR / "env").with_suffix("").as_posix()
            for path in (CONFIG_DIR / "env").rglob("*.yaml")
        )
    else:  # another group (agent=, hydra/launcher=) or the primary config's name
        group, _, name = missing.rpartition("/")
    in_configs = bool(group) and (CONFIG_DIR / group).is_dir()
    where = f" (configs/{missing}.yaml does not exist)" if in_configs else ""
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    separator = " " if hint else "; "
    listing = f"{separator}{group}= takes one of: {', '.join(options)}" if options else ""
    custom = (
        " (or env=custom env.id=<Gymnasium id> for any other registered env)"
        if group == "env"
        else ""
    )
    label = f"{group} config" if group else "config"
    return f"no {label} '{name}'{where}{hint}{listing}{custom}"


def _message_lines(error: BaseException) -> list[str]:
    lines = (line.strip() for line in str(error).splitlines())
    return [line for line in lines if line and not line.startswith(_DETAIL_PREFIXES)]
