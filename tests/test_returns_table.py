"""benchmarks/returns.py: the arms' settings, the table section replaced in place (the rest of
the results page kept), and real tiny runs of ours and SB3 through train and table."""

from __future__ import annotations

import datetime
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from agents.config import SACConfig
from benchmarks import arm_records, arm_training, arms, references, returns

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.benchmark


def test_write_table_replaces_only_the_generated_section(tmp_path: Path) -> None:
    page = tmp_path / "results.md"
    page.write_text(f"intro\n\n{returns.BEGIN}\nold table\n{returns.END}\n\nnotes\n")
    returns.write_table(f"{returns.BEGIN}\nnew table\n{returns.END}", page)
    assert page.read_text() == f"intro\n\n{returns.BEGIN}\nnew table\n{returns.END}\n\nnotes\n"
    fresh = tmp_path / "fresh.md"
    returns.write_table(f"{returns.BEGIN}\nt\n{returns.END}", fresh)
    assert fresh.read_text() == f"{returns.BEGIN}\nt\n{returns.END}\n"


def test_every_listed_env_file_has_a_reference_and_a_family() -> None:
    env_dir = REPO / "configs" / "env"
    listed = {
        p.relative_to(env_dir).with_suffix("").as_posix()
        for p in env_dir.rglob("*.yaml")
        if p.stem != "custom"
    }
    assert listed == set(references.REFERENCES)
    assert returns.family("Pendulum-v1") == "classic-control"
    assert returns.family("BipedalWalker-v3") == "box2d"
    assert returns.family("Hopper-v5") == "mujoco"
    assert returns.family("dm_control/walker-walk-v0") == "dm-control"


def test_env_budget_is_the_env_files() -> None:
    assert arms.env_budget("Pendulum-v1") == 20000
    assert arms.env_budget("dm_control/cheetah-run-v0") == 1_000_000


def test_the_mujoco_files_train_at_tianshous_settings_and_their_paper_arm_at_the_zoos() -> None:
    composed = arms.compose("Ant-v5")["agent"]
    assert (composed["actor_lr"], composed["critic_lr"]) == (1e-3, 1e-3)
    assert (composed["learn_alpha"], composed["init_alpha"]) == (False, 0.2)
    assert sorted(arms.paper_overrides("Ant-v5")) == [
        "agent.actor_lr=0.0003", "agent.critic_lr=0.0003", "agent.init_alpha=1.0",
        "agent.learn_alpha=true",
    ]  # fmt: skip
    hopper = arms.compose("Hopper-v5")["agent"]  # the same, with truncated quantile critics
    assert (hopper["critic_quantiles"], hopper["quantiles_dropped"]) == (25, 5)
    assert "agent.critic_quantiles=0" in arms.paper_overrides("Hopper-v5")


def test_a_setting_made_inert_does_not_tell_runs_apart() -> None:
    """Without quantile critics the number dropped is never read: plain runs trained with the
    default stay the plain arm of an env file that turns TQC on with another number."""
    plain = arms.expected_settings("Hopper-v5", 1000, "ours", ["agent.critic_quantiles=0"])
    run = arms.run_settings(arms.compose("Ant-v5", ["total_steps=1000"]))
    run["env.id"] = "Hopper-v5"
    assert arms.setting_differences(run, plain) == []
    tqc = arms.expected_settings("Hopper-v5", 1000, "ours")
    assert arms.setting_differences(run, tqc) == [
        "agent.critic_quantiles: 0 there, 25 now", "agent.quantiles_dropped: None there, 5 now"
    ]  # fmt: skip


def test_the_paper_arm_sets_back_what_the_env_file_changes() -> None:
    """Pendulum's file tunes tau, gamma, the learning rates, sizes and alpha; the paper arm sets
    exactly those back to configs/agent/sac.yaml, and composes to it."""
    overrides = arms.paper_overrides("Pendulum-v1")
    assert "agent.tau=0.005" in overrides and "agent.hidden_sizes=[256,256]" in overrides
    composed = arms.compose("Pendulum-v1", overrides)["agent"]
    assert composed == asdict(SACConfig())
    assert arms.arm_overrides("Pendulum-v1", "sb3") == []


def test_a_paper_arm_that_repeats_ours_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert arms.paper_overrides("InvertedPendulum-v5") == []  # its file keeps the paper's
    argv = ["train", "InvertedPendulum-v5", "--arm", "sb3-paper", "--runs", "/nonexistent"]
    assert returns.main(argv) == 2
    assert "would repeat sb3" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "Pendulum-v1", "--seeds", "3", "--jobs", "2"], "multiple of --jobs"),
        (["train", "NoSuch-v0", "--steps", "10"], "cannot compose env=NoSuch-v0"),
    ],
)
def test_bad_input_is_one_error_line(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert returns.main([*argv, "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_train_then_table_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two seeds of ours (one population per process) and of SB3, 1200 steps of Pendulum with
    updates from step 1000, trained as a plan of two arms; the table has both rows and the
    figure, a second `train` finds nothing left to do, and a run trained with other settings is
    left out with a note and refused by a further `train`. Finished arms are recorded, and the
    records alone (a fresh clone) draw the same table."""
    runs, page, figures = tmp_path / "runs", tmp_path / "results.md", tmp_path / "figures"
    records = tmp_path / "records"
    page.write_text(f"# Results\n\n{returns.BEGIN}\n{returns.END}\n\nkept\n")
    common = ["--seeds", "2", "--steps", "1200", "--runs", str(runs), "--records", str(records)]
    plan = tmp_path / "plan.txt"
    plan.write_text("# two arms\nPendulum-v1 --seeds 2 --steps 1200\n\n"
                    "Pendulum-v1 --seeds 2 --steps 1200 --arm sb3  # beside it\n")  # fmt: skip
    listing = ["plan", str(plan), "--list", "--runs", str(runs), "--records", str(records)]
    assert returns.main(listing) == 0
    assert capsys.readouterr().out.splitlines() == [
        "plan.txt:2: Pendulum-v1/steps1200/ours: 0 of 2 seeds finished",
        "plan.txt:4: Pendulum-v1/steps1200/sb3: 0 of 2 seeds finished",
    ]
    assert not runs.exists() and not records.exists()  # listing trains and writes nothing
    outputs = ["--output", str(page), "--figures", str(figures), "--reps", "50"]
    assert returns.main(["plan", str(plan), *listing[3:], *outputs]) == 0
    assert returns.main(listing) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "plan.txt:2: Pendulum-v1/steps1200/ours: done",
        "plan.txt:4: Pendulum-v1/steps1200/sb3: done",
    ]
    # an interrupted arm: its runs without summaries, at twice the budget
    longer = arms.arm_dir("Pendulum-v1", 2400, "ours", runs)
    shutil.copytree(arms.arm_dir("Pendulum-v1", 1200, "ours", runs), longer)
    for summary in longer.rglob("summary.json"):
        summary.unlink()
    plan.write_text("Pendulum-v1 --seeds 2 --steps 2400\n")
    assert returns.main(listing) == 0
    assert capsys.readouterr().out.splitlines() == [
        "plan.txt:1: Pendulum-v1/steps2400/ours: 0 of 2 seeds finished, evaluated to 1,200 of "
        "2,400 steps"
    ]
    shutil.rmtree(longer)
    ours = arms.arm_dir("Pendulum-v1", 1200, "ours", runs)
    summaries = sorted(ours.rglob("summary.json"))
    assert len(summaries) == 2
    provenance = json.loads((ours / arm_records.PROVENANCE).read_text())
    assert (
        provenance["commit"] and provenance["machine"] and "population=1" in provenance["command"]
    )
    before = [p.stat().st_mtime for p in summaries]
    assert returns.main(["train", "Pendulum-v1", "--arm", "sb3", *common]) == 0  # all there
    assert returns.main(["train", "Pendulum-v1", *common]) == 0  # resume=auto: nothing to do
    assert [p.stat().st_mtime for p in summaries] == before
    assert json.loads((ours / arm_records.PROVENANCE).read_text()) == provenance  # nothing re-run
    resumed = dict(provenance, commit="0000000")  # as if the arm had started at another commit
    (ours / arm_records.PROVENANCE).write_text(json.dumps(resumed))
    arm_training._record_provenance(ours, ["python", "train.py"], 2, 2)
    continued = json.loads((ours / arm_records.PROVENANCE).read_text())
    assert continued["commit"] == f"0000000 + {provenance['commit']}"
    assert continued["command"] == provenance["command"]  # how the arm started
    # continuing with another split would put other populations in the process dirs
    assert returns.main(["train", "Pendulum-v1", *common[2:], "--seeds", "4"]) == 2

    argv = ["table", *listing[3:], "--output", str(page), "--figures", str(figures)]
    assert returns.main([*argv, "--reps", "50"]) == 0
    text = page.read_text()
    clone = tmp_path / "clone"  # what a fresh clone has of the arms: their records alone
    assert returns.main(["table", "--runs", str(clone), "--records", str(records),
                         "--output", str(clone / "page.md"), "--figures", str(clone),
                         "--reps", "50"]) == 0  # fmt: skip
    section = text.split(returns.BEGIN)[1].split(returns.END)[0]
    assert section in (clone / "page.md").read_text()
    plan.write_text(
        "Pendulum-v1 --seeds 2 --steps 1200\nPendulum-v1 --seeds 2 --steps 1200 --arm sb3\n"
    )
    assert returns.main(["plan", str(plan), "--list", "--runs", str(clone),
                         "--records", str(records)]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "plan.txt:1: Pendulum-v1/steps1200/ours: done (recorded)",
        "plan.txt:2: Pendulum-v1/steps1200/sb3: done (recorded)",
    ]
    recorded_files = [path for path in records.rglob("*") if path.is_file()]
    assert {path.name for path in recorded_files} == {
        "provenance.json",
        "summary.json",
        "config.yaml",
        "metrics.jsonl",
    }  # no weights, checkpoints or logs: what the page draws from, and small
    for metrics in records.rglob("metrics.jsonl"):
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        assert rows and all("eval/return_mean" in row for row in rows)
    assert returns.record_finished(runs, records) == []  # recorded once
    assert text.startswith("# Results\n\n" + returns.BEGIN) and text.endswith("\nkept\n")
    finals = [json.loads(p.read_text())["eval_return_mean"] for p in summaries]
    row = next(
        line for line in text.splitlines() if line.startswith("| Pendulum-v1 | 1,200 | ours")
    )
    assert f"| 2 (0–1) | **{sum(finals) / 2:.1f} [" in row  # the IQM of two runs is their mean
    assert "−157.0 ± 88.7 at 20k [zoo]" in row
    assert any(
        line.startswith("| Pendulum-v1 | 1,200 | SB3 | 2 (0–1)") for line in text.splitlines()
    )
    assert (figures / "results-classic-control.png").stat().st_size > 0
    assert (figures / "results-parity.png").stat().st_size > 0  # ours and SB3, equal settings
    assert "![parity](figures/results-parity.png)" in text

    # a lever's arm is a row of its own, its runs checked against the arm plus the lever
    shutil.copytree(ours, ours.with_name("ours+agent.tau=0.02"))  # Pendulum's file has 0.02
    shutil.copytree(ours, ours.with_name("ours+agent.tau=0.05"))
    assert returns.main([*argv, "--reps", "50"]) == 0
    lines = page.read_text().splitlines()
    lever = next(line for line in lines if "| ours + agent.tau=0.02 |" in line)
    assert lever.startswith("| Pendulum-v1 | 1,200 |") and lever.endswith("|  |")  # no reference
    assert any("ours+agent.tau=0.05: 2 of 2 runs left out" in line for line in lines)
    shutil.rmtree(ours.with_name("ours+agent.tau=0.05"))

    # a run whose saved settings no longer match its arm (an env file changed since) is left out
    recorded = arm_records.recorded_arms(records)[arm_records.arm_key(ours)]
    for tree in (ours, recorded):
        config = next(tree.rglob(".hydra/config.yaml"))
        config.write_text(config.read_text().replace("tau: 0.02", "tau: 0.03"))
    assert returns.main([*argv, "--reps", "50"]) == 0
    text = page.read_text()
    assert "1 of 2 runs left out" in text
    assert any(line.startswith("| Pendulum-v1 | 1,200 | ours | 1 (") for line in text.splitlines())
    assert returns.main(["train", "Pendulum-v1", *common]) == 2  # not resumed into: refused

    # an arm short of its budget (interrupted, to be continued) says so
    rows, _ = returns.collect(runs, reps=50, records=records)
    row = dict(rows[0], steps=2400)
    table = returns.render([row], reps=50).splitlines()
    assert any(line.startswith("| Pendulum-v1 | in progress: 1,200 of 2,400 | ours")
               for line in table)  # fmt: skip


@pytest.mark.parametrize(
    "lever, words",
    [
        ("agent.n_step", "expected KEY=VALUE"),
        ("seed=3", "not a lever"),
        ("total_steps=5", "not a lever"),
        ("env.id=Hopper-v5", "not a lever"),
        ("torch_threads=2", "not a lever"),
        ("agent.actor_lr=1e+3", "'+'"),
    ],
)
def test_a_bad_lever_is_one_error_line(
    lever: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "Pendulum-v1", "--set", lever, "--runs", str(tmp_path / "runs")]
    assert returns.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --set") and words in err[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["ours+agent.n_step=3", "it's here", "a b"])
def test_the_arm_dir_reaches_hydra_as_it_is(name: str, tmp_path: Path) -> None:
    """A lever's arm dir has '=' in its name, which Hydra's override grammar would read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    directory = tmp_path / name
    spec = arms.ArmSpec("Hopper-v5", "ours", seeds=6, steps=100, jobs=2)
    command = arm_training.ours_command(spec, ["agent.n_step=3"], directory)
    parsed = OverridesParser.create().parse_overrides(command[command.index("-m") + 1 :])
    values = {override.key_or_group: override.value() for override in parsed}
    assert values["hydra.sweep.dir"] == str(directory)
    assert values["agent.n_step"] == 3 and values["population"] == 3


def test_an_env_make_argument_is_a_lever_that_tells_its_runs_apart() -> None:
    """env.kwargs.KEY=VALUE reaches Hydra as `++` (the key is in no env file's struct), and the
    arm's expected settings hold it, so runs without it are not counted as the lever's."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lever = "env.kwargs.g=9.81"  # Pendulum-v1's gravity, at its default: a cheap real argument
    assert arms.check_levers([lever, "agent.tau=0.01"]) == [f"++{lever}", "agent.tau=0.01"]
    spec = arms.ArmSpec("Pendulum-v1", "ours", seeds=2, steps=100, jobs=2, levers=(lever,))
    overrides = arms.check_levers(spec.levers)
    command = arm_training.ours_command(spec, overrides, Path("arm"))
    parsed = OverridesParser.create().parse_overrides(command[command.index("-m") + 1 :])
    assert any(o.key_or_group == "env.kwargs.g" and o.value() == 9.81 for o in parsed)
    with_lever = arms.expected_settings("Pendulum-v1", 100, "ours", [lever])
    plain = arms.expected_settings("Pendulum-v1", 100, "ours")
    assert with_lever["env.kwargs"] == {"env.kwargs.g": 9.81}
    assert plain["env.kwargs"] == {} and with_lever != plain
    with pytest.raises(arms.ResultsError, match="not a lever"):
        arms.check_levers(["env.kwargs.=1"])


def test_a_lever_arm_is_named_by_its_overrides() -> None:
    name = arms.arm_name("ours", ["agent.n_step=3", "agent.utd=2"])
    assert name == "ours+agent.n_step=3+agent.utd=2"
    assert arms.parse_arm_name(name) == ("ours", ["agent.n_step=3", "agent.utd=2"])
    assert arms.parse_arm_name("sb3-paper") == ("sb3-paper", [])


def test_a_row_below_its_references_budget_says_how_far_it_got() -> None:
    assert references.reference_budget("260.4 ± 65.5 at 500k, v2") == 500_000
    assert references.reference_budget("9359.5 ± 0.4 within 1M, v2") == 1_000_000
    assert references.reference_budget("no budget named") is None
    cell = references.reference_cell("LunarLanderContinuous-v3", 100_000)
    assert cell.endswith("[zoo]; this row trained 20% of that budget")
    assert references.reference_cell("Hopper-v5", 100_000).endswith("[tianshou-100k]")


def test_a_reference_at_a_budget_is_a_point_of_the_curve_figure() -> None:
    assert references.reference_point("Hopper-v5") == (100_000, 1765.9, 1035.9, "tianshou-100k")
    assert references.reference_point("Pendulum-v1") == (20_000, -157.0, 88.7, "zoo")
    assert references.reference_point("Reacher-v5") is None  # best within 1M: not a point
    assert references.reference_point("NoSuch-v0") is None


@pytest.mark.parametrize(
    "line, words",
    [
        ("Hopper-v5 --steps 100000 --set agent.n_step", "expected KEY=VALUE"),
        ("Hopper-v5 --arm mine", "invalid choice: 'mine'"),
        ("Hopper-v5 --seeds 5", "multiple of --jobs 2"),
        ("Nowhere-v0", "Nowhere-v0"),
    ],
)
def test_a_bad_plan_line_is_one_error_line_before_anything_trains(
    line: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.txt"
    plan.write_text(f"Pendulum-v1 --seeds 2 --steps 1200\n{line}\n")
    assert returns.main(["plan", str(plan), "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: plan.txt:2: ") and words in err[0]
    assert not (tmp_path / "runs").exists()


def test_the_plan_names_every_arm_of_the_page() -> None:
    """Every arm of the plan reads, and each env of the plan has a published reference."""
    from benchmarks.plan import read_plan

    specs = [spec for _, spec in read_plan()]
    assert {spec.env for spec in specs} <= set(references.REFERENCES)
    assert len({(s.env, s.arm, s.steps, s.levers) for s in specs}) == len(specs)  # none twice


def test_parity_pairs_ours_and_sb3_at_equal_settings_only() -> None:
    def row(env: str, arm: str, levers: tuple[str, ...] = ()) -> dict:
        return {"env": env, "steps": 100, "arm": arm, "levers": levers}

    rows = [row("A", "ours"), row("A", "sb3"), row("A", "ours", ("agent.n_step=3",)),
            row("B", "paper"), row("B", "sb3-paper"), row("B", "ours"),
            row("C", "paper"), row("C", "sb3")]  # fmt: skip
    pairs = returns.parity_rows(rows)
    assert [(r["env"], r["arm"]) for r in pairs] == [
        ("A", "ours"), ("A", "sb3"), ("B", "paper"), ("B", "sb3-paper")
    ]  # fmt: skip


def _fake_arm(root: Path, commit: str) -> Path:
    """An arm dir of one finished run, as train.py and returns.py leave it, with a weights file."""
    arm = arms.arm_dir("Pendulum-v1", 1200, "ours", root)
    run = arm / "0_Pendulum-v1_seed0" / "member-0"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("env:\n  id: Pendulum-v1\nseed: 0\n")
    (run / "summary.json").write_text('{"eval_return_mean": -150.0}')
    (run / "model.pt").write_bytes(b"weights")
    rows = [{"step": 5, "rollout/episode_return": -1.0}, {"step": 1200, "eval/return_mean": -150.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    provenance = {"commit": commit, "machine": "cpu-2c", "date": "2026-01-01", "seeds": 1}
    (arm / arm_records.PROVENANCE).write_text(json.dumps(provenance))
    return arm


def test_an_arm_trained_again_replaces_its_record_once_it_finishes(tmp_path: Path) -> None:
    runs, records = tmp_path / "runs", tmp_path / "records"
    arm = _fake_arm(runs, commit="aaaaaaa")
    first = arm_records.record_arm(arm, records, date="2026-01-01")
    assert first == records / "2026-01-01-cpu-2c" / "returns" / "Pendulum-v1" / "steps1200" / "ours"
    assert not list(first.rglob("model.pt")) and not list(first.parent.glob("*.partial"))
    assert arm_records.record_arm(arm, records, date="2026-01-05") is None  # the same training
    # trained again at another commit: while it trains, the record is the row, with a note
    shutil.rmtree(runs)
    arm = _fake_arm(runs, commit="bbbbbbb")
    (next(arm.rglob("summary.json"))).unlink()
    assert not arm_records.is_finished(arm)
    directories, notes = returns.arm_dirs(runs, records)
    assert directories == [first] and "trained again" in notes[0] and "2026-01-01" in notes[0]
    # finished: recorded again, and the newer record is the arm
    (next(arm.rglob("metrics.jsonl")).parent / "summary.json").write_text("{}")
    assert returns.record_finished(runs, records)
    second = arm_records.recorded_arms(records)[arm_records.arm_key(arm)]
    assert second.parents[3].name == datetime.date.today().isoformat() + "-cpu-2c"
    assert arm_records.read_provenance(second)["commit"] == "bbbbbbb"
    assert returns.arm_dirs(runs, records) == ([second], [])
