"""What Hydra refuses while composing a config, as one `error: ...` line and exit status 2.

train.py and evaluate.py report every other bad input that way. Hydra's own report of a
composition error is several lines and exit status 1: for an `env=` that names no file in
configs/env/, the top-level options (not configs/env/dm_control/), the config search path and a
hint about HYDRA_FULL_ERROR. Hydra raises the exception instead of reporting it when
HYDRA_FULL_ERROR is set, which is how `run_cli` gets it to word it here; a user who sets
HYDRA_FULL_ERROR themselves still gets Hydra's full traceback.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).resolve().parent
# OmegaConf appends these detail lines to its messages; the key is already in the first line.
_DETAIL_PREFIXES = ("full_key:", "reference_type=", "object_type=", "See https://hydra.cc")


def run_cli(main: Callable[[], object]) -> None:
    """Call a `@hydra.main` function; a composition error ends the process with one line."""
    if os.environ.get("HYDRA_FULL_ERROR"):  # the user asked for Hydra's full traceback
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except (HydraException, OmegaConfBaseException) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)


def one_line(error: BaseException) -> str:
    """Hydra's or OmegaConf's message, with its cause, on one line."""
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
    group, _, name = missing.partition("/")  # env/dm_control/x: group env, name dm_control/x
    if not name:
        group, name = "", group
    if group == "env":
        options = sorted(
            path.relative_to(CONFIG_DIR / "env").with_suffix("").as_posix()
            for path in (CONFIG_DIR / "env").rglob("*.yaml")
        )
    where = f"configs/{missing}.yaml"
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
    return f"no {label} '{name}' ({where} does not exist){hint}{listing}{custom}"


def _message_lines(error: BaseException) -> list[str]:
    lines = (line.strip() for line in str(error).splitlines())
    return [line for line in lines if line and not line.startswith(_DETAIL_PREFIXES)]
