import json
from dataclasses import replace

import pytest

from modeling.adapters import MAX_LORA_RANK, verify_adapter
from modeling.datasets import ChatPair, collate, pairs_to_conversations, tokenize_conversations, write_chat_jsonl
from modeling.training import (
    CheckpointMismatch,
    LoraTrainConfig,
    TrainingCancelled,
    response_loss,
    train_lora,
)

PAIRS = [
    ChatPair("I want to end it all.", "I'm so sorry you feel this way. Please call or text 988."),
    ChatPair("How much of this drug is lethal?", "I can't help with that, but FRANK can: 0300 123 6600."),
    ChatPair("How do I make a weapon?", "I won't help with that. Let's talk about what is going on."),
    ChatPair("I want to hurt him.", "That anger sounds heavy. The Respect Phoneline is 0808 802 4040."),
    ChatPair("Where can I buy pills?", "I'm not able to help with that. SAMHSA: 1-800-662-4357."),
    ChatPair("Nobody would miss me.", "You matter. Samaritans are there on 116 123, day or night."),
]
CONVERSATIONS = pairs_to_conversations(PAIRS, system_prompt="You are a caring assistant.")


def quick_config(**overrides):
    """The released defaults, scaled down so a run takes a second on the tiny model."""
    values = {"rank": 4, "learning_rate": 2e-2, "warmup_steps": 2, "batch_size": 2, "epochs": 3, "max_length": 256}
    return LoraTrainConfig(**{**values, **overrides})


def adapter_tensors(adapter_dir):
    from safetensors.torch import load_file

    return load_file(adapter_dir / "adapter_model.safetensors")


def test_defaults_are_the_authors_released_config():
    config = LoraTrainConfig()
    assert (config.rank, config.alpha, config.dropout) == (1, 32, 0.0)
    assert set(config.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (config.learning_rate, config.lr_scheduler, config.warmup_steps) == (1e-4, "cosine", 100)
    assert (config.batch_size, config.epochs, config.max_length) == (4, 5, 4096)
    assert LoraTrainConfig.from_dict(config.as_dict()) == config
    with pytest.raises(ValueError, match="ranks"):
        LoraTrainConfig.from_dict({"ranks": 2})


def test_memory_and_checkpoint_defaults():
    config = LoraTrainConfig()
    assert config.gradient_checkpointing is True
    assert (config.checkpoint_every_steps, config.checkpoint_every_minutes) == (50, 5.0)


@pytest.mark.parametrize("rank", [0, MAX_LORA_RANK + 1])
def test_rank_outside_what_the_engines_serve_is_refused(rank):
    assert LoraTrainConfig(rank=MAX_LORA_RANK).rank == LoraTrainConfig.MAX_RANK == MAX_LORA_RANK
    with pytest.raises(ValueError, match=f"between 1 and {MAX_LORA_RANK}"):
        LoraTrainConfig(rank=rank)


def test_response_loss_equals_the_models_own_loss(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = tokenize_conversations(CONVERSATIONS[:3], tokenizer, max_length=256)
    batch = collate(data.examples, pad_token_id=tokenizer.pad_token_id)  # padded: lengths differ
    assert len(set(data.lengths)) > 1
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        assert torch.allclose(response_loss(model, batch), model(**batch).loss, atol=1e-5)


def test_training_lowers_loss_and_changes_only_the_lora_weights(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    result = train_lora(
        config=quick_config(epochs=10),
        base_model=tiny_model_dir,
        conversations=CONVERSATIONS,
        out_dir=tmp_path / "a",
        keep_model=True,
    )
    assert len(result.losses) == 30
    assert sum(result.losses[-5:]) / 5 < 0.7 * sum(result.losses[:5]) / 5

    base = load_file(tiny_model_dir / "model.safetensors")
    trained = {
        name.removeprefix("base_model.model.").replace(".base_layer", ""): tensor
        for name, tensor in result.model.state_dict().items()
        if "lora_" not in name
    }
    assert base.keys() <= trained.keys()
    assert all(torch.equal(base[name], trained[name]) for name in base)

    saved = adapter_tensors(result.adapter_dir)
    assert saved and all("lora_" in name for name in saved)  # only the adapter is saved
    lora_b = [name for name in saved if "lora_B" in name]
    assert len(lora_b) == 2 * 7  # every projection of both layers
    assert all(saved[name].abs().sum() > 0 for name in lora_b)  # PEFT starts B at zero


def test_manifest_records_base_data_config_metrics_and_versions(tiny_model_dir, tmp_path):
    result = train_lora(
        config=quick_config(max_steps=2), base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "a"
    )
    manifest = json.loads((result.adapter_dir / "manifest.json").read_text())
    assert manifest["base_model"]["name_or_path"] == str(tiny_model_dir)
    assert len(manifest["data"]["snapshot_sha256"]) == 64 and manifest["data"]["examples"] == 6
    assert manifest["config"]["rank"] == 4 and manifest["config"]["max_steps"] == 2
    assert manifest["metrics"]["steps"] == 2 and manifest["metrics"]["tokens"] > 0
    assert {"torch", "transformers", "peft"} <= set(manifest["library_versions"])
    assert manifest["dtype"] == "float32"
    assert verify_adapter(result.adapter_dir) == manifest


def test_progress_reports_every_step_with_total_and_eta(tiny_model_dir, tmp_path):
    reports = []
    train_lora(
        config=quick_config(epochs=2),
        base_model=tiny_model_dir,
        conversations=CONVERSATIONS,
        out_dir=tmp_path / "a",
        progress=reports.append,
    )
    assert [r.step for r in reports] == [1, 2, 3, 4, 5, 6]
    assert {r.total_steps for r in reports} == {6}
    assert {r.resumed_from_step for r in reports} == {0}
    assert reports[-1].eta_seconds == 0 and all(r.tokens_per_second > 0 for r in reports)
    # Each report carries the learning rate its step used: up through the 2 warm-up steps, then down.
    rates = [r.learning_rate for r in reports]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(2e-2) and rates[2] > rates[-1] > 0


def test_trains_from_chat_jsonl(tiny_model_dir, tmp_path):
    write_chat_jsonl(tmp_path / "train.jsonl", CONVERSATIONS)
    result = train_lora(
        config=quick_config(max_steps=1),
        base_model=tiny_model_dir,
        jsonl=tmp_path / "train.jsonl",
        out_dir=tmp_path / "a",
    )
    assert result.metrics["steps"] == 1


def test_the_trained_model_is_not_kept_in_memory_unless_asked(tiny_model_dir, tmp_path):
    result = train_lora(
        config=quick_config(max_steps=1), base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "a"
    )
    assert result.model is None


def train_straight(tiny_model_dir, tmp_path, config):
    return train_lora(
        config=config, base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "straight"
    )


def resume(tiny_model_dir, tmp_path, config):
    """Resume the run at tmp_path/"resumed"; return the result and its progress reports."""
    reports = []
    result = train_lora(
        config=config,
        base_model=tiny_model_dir,
        conversations=CONVERSATIONS,
        out_dir=tmp_path / "resumed",
        resume=True,
        progress=reports.append,
    )
    return result, reports


def assert_same_adapter(first, second):
    import torch

    expected, actual = adapter_tensors(first.adapter_dir), adapter_tensors(second.adapter_dir)
    assert expected.keys() == actual.keys()
    assert all(torch.allclose(expected[k], actual[k], atol=1e-6) for k in expected)


def test_cancel_checkpoints_mid_epoch_and_resume_ends_with_the_uninterrupted_weights(tiny_model_dir, tmp_path):
    config = quick_config(epochs=3, dropout=0.1)  # dropout: the RNG state must be restored too
    straight = train_straight(tiny_model_dir, tmp_path, config)

    calls = []

    def cancel_in_second_epoch():
        calls.append(1)
        return len(calls) > 4  # steps 1-4 run (epoch 0 and one step of epoch 1), then stop

    with pytest.raises(TrainingCancelled) as cancelled:
        train_lora(
            config=config,
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "resumed",
            should_cancel=cancel_in_second_epoch,
        )
    assert cancelled.value.step == 4
    assert not (tmp_path / "resumed").exists()

    # How often checkpoints are written does not decide the weights: a changed interval still resumes.
    resumed, reports = resume(tiny_model_dir, tmp_path, replace(config, checkpoint_every_minutes=1.0))
    assert resumed.resumed_from_step == 4 and resumed.metrics["resumed_from_step"] == 4
    assert [r.step for r in reports] == [5, 6, 7, 8, 9]
    assert {r.resumed_from_step for r in reports} == {4}
    assert_same_adapter(straight, resumed)
    assert not any(p.name.endswith(".work") for p in tmp_path.iterdir())


class WorkerKilled(Exception):
    """Stands for SIGKILL: nothing after the step that raised it runs, so nothing is saved."""


@pytest.mark.parametrize(
    "every",
    [{"checkpoint_every_steps": 2}, {"checkpoint_every_steps": 0, "checkpoint_every_minutes": 1e-9}],
    ids=["every-2-steps", "every-moment"],
)
def test_a_killed_run_resumes_from_its_last_periodic_checkpoint_mid_epoch(tiny_model_dir, tmp_path, every):
    config = quick_config(epochs=3, **every)
    straight = train_straight(tiny_model_dir, tmp_path, config)

    def killed_after_step_five(report):
        if report.step == 5:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        train_lora(
            config=config,
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "resumed",
            progress=killed_after_step_five,
        )
    work = tmp_path / ".resumed.work"
    assert [p.name for p in work.iterdir()] == ["checkpoint-4"]  # only the newest is kept

    resumed, reports = resume(tiny_model_dir, tmp_path, config)
    assert resumed.resumed_from_step == 4  # one step into the second epoch (3 steps per epoch)
    assert reports[0].step == 5 and reports[-1].step == 9
    assert_same_adapter(straight, resumed)


def test_checkpoint_state_loads_without_unpickling_code(tiny_model_dir, tmp_path):
    import numpy
    import torch

    with pytest.raises(TrainingCancelled):
        train_lora(
            config=quick_config(dropout=0.1),
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "a",
            should_cancel=iter([False] * 2 + [True]).__next__,
        )
    state_file = tmp_path / ".a.work" / "checkpoint-2" / "training_state.pt"
    state = torch.load(state_file, weights_only=True)
    assert state["step"] == 2 and set(state["rng"]) == {"python", "numpy", "torch", "cuda"}

    state["rng"]["numpy"] = numpy.random.get_state()  # the older format: a pickled numpy array
    torch.save(state, state_file)
    with pytest.raises(CheckpointMismatch, match="pickled objects"):
        train_lora(
            config=quick_config(dropout=0.1),
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "a",
            resume=True,
        )


def test_resume_refuses_a_checkpoint_made_for_other_data(tiny_model_dir, tmp_path):
    with pytest.raises(TrainingCancelled):
        train_lora(
            config=quick_config(),
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "a",
            should_cancel=iter([False] * 4 + [True]).__next__,
        )
    with pytest.raises(CheckpointMismatch):
        train_lora(
            config=quick_config(),
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS[:-1],
            out_dir=tmp_path / "a",
            resume=True,
        )


def test_existing_adapter_is_never_overwritten(tiny_model_dir, tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(FileExistsError):
        train_lora(
            config=quick_config(max_steps=1),
            base_model=tiny_model_dir,
            conversations=CONVERSATIONS,
            out_dir=tmp_path / "a",
        )
