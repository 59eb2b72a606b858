"""Data-parallel training: two CPU processes (gloo) against one process with accumulation."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from factories import FIXTURES

CORPUS = FIXTURES / "corpus"
TINY = Path(__file__).parents[3] / "configs" / "tiny.toml"
SETTINGS = [
    "--max-steps",
    "6",
    "--set",
    "data.batch_tokens=256",
    "--set",
    "run.checkpoint_every=3",
    "--set",
    "run.eval_every=100",
    "--set",
    "model.dropout=0.0",  # ranks draw different dropout masks than one process would
]


def run(args: list[str], processes: int) -> None:
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
        if processes > 1
        else [sys.executable]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [
        *launcher,
        "-m",
        "elmo.cli",
        "train",
        "--train",
        str(CORPUS / "train.txt"),
        "--valid",
        str(CORPUS / "valid.txt"),
        "--config",
        str(TINY),
        *SETTINGS,
        *args,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_gloo_processes_reproduce_one_process_with_the_same_global_batch(tmp_path):
    run(["--output", str(tmp_path / "single"), "--set", "data.grad_accum=2"], processes=1)
    run(["--output", str(tmp_path / "ddp")], processes=2)
    single = load_file(tmp_path / "single" / "model" / "model.safetensors")
    ddp = load_file(tmp_path / "ddp" / "model" / "model.safetensors")
    assert single.keys() == ddp.keys()
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-4, atol=1e-5, msg=key)
    # the runs really trained: weights moved away from their shared initialisation
    first = load_file(sorted((tmp_path / "ddp" / "checkpoints").iterdir())[0] / "model.safetensors")
    assert any(not torch.equal(first[k], ddp[k]) for k in ddp)
    assert "2 × CPU" in (tmp_path / "ddp" / "model" / "MODEL_CARD.md").read_text()
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == [
        "step_00000003",
        "step_00000006",
    ]


def test_a_time_limit_stops_every_rank_together(tmp_path):
    """Ranks must agree on the last step; one rank stopping alone would hang the other."""
    out = tmp_path / "timed"
    run(
        [
            "--output",
            str(out),
            "--max-time",
            "3",
            "--set",
            "run.log_every=1",
            "--set",
            "run.eval_every=2",
            "--set",
            "run.max_steps=10000",
        ],
        processes=2,
    )
    assert (out / "model" / "model.safetensors").exists()
    (last,) = [p.name for p in sorted((out / "checkpoints").iterdir())][-1:]
    assert 0 < int(last.removeprefix("step_")) < 100000
