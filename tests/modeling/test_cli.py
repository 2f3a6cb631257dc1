"""The command line, run as an ML engineer would: `python -m modeling ...` in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

from modeling.datasets import ChatPair, pairs_to_conversations, write_chat_jsonl

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "modeling", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_help_lists_every_subcommand_and_config_flags():
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("demo-model", "tiny-model", "train", "generate"):
        assert command in top.stdout
    train = run_cli("train", "--help").stdout
    for flag in (
        "--rank",
        "--alpha",
        "--lr",
        "--epochs",
        "--max-steps",
        "--target-modules",
        "--no-group-by-length",
        "--checkpoint-every-steps",
        "--checkpoint-every-minutes",
        "--no-gradient-checkpointing",
    ):
        assert flag in train


def test_train_then_generate_from_jsonl_files(tmp_path):
    model = tmp_path / "tiny"
    assert run_cli("tiny-model", "--out", model).returncode == 0
    pairs = [ChatPair(f"Question {i}?", f"I can't help with that, but 988 can. ({i})") for i in range(4)]
    write_chat_jsonl(tmp_path / "train.jsonl", pairs_to_conversations(pairs))
    (tmp_path / "prompts.jsonl").write_text(
        '{"id": "a", "prompt": "Hello"}\n{"messages": [{"role": "user", "content": "Why?"}]}\n'
    )
    (tmp_path / "system.txt").write_text("You are careful.\n")

    trained = run_cli(
        "train", "--base", model, "--data", tmp_path / "train.jsonl", "--out", tmp_path / "adapter",
        "--rank", 2, "--epochs", 1, "--batch-size", 2, "--lr", 0.01, "--warmup", 0, "--max-length", 128,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "step 2/2" in trained.stderr
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["config"]["rank"] == 2 and manifest["config"]["alpha"] == 32

    generated = run_cli(
        "generate", "--base", model, "--adapter", tmp_path / "adapter", "--prompts", tmp_path / "prompts.jsonl",
        "--out", tmp_path / "out.jsonl", "--system-prompt-file", tmp_path / "system.txt", "--max-new-tokens", 5,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["prompt_id"] for row in rows] == ["a", "2"]
    assert {row["condition_key"] for row in rows} == {"adapter+system"}
    assert all(row["adapter_path"] == str(tmp_path / "adapter") for row in rows)


def test_bad_prompt_line_is_reported_with_its_line_number(tmp_path):
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "ok"}\n{"id": 3}\n')
    result = run_cli(
        "generate", "--base", tmp_path, "--prompts", tmp_path / "prompts.jsonl", "--out", tmp_path / "o.jsonl"
    )
    assert result.returncode != 0
    assert "prompts.jsonl:2" in result.stderr
