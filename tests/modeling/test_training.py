import json

import pytest

from modeling.datasets import ChatPair, pairs_to_conversations, write_chat_jsonl
from modeling.training import (
    AdapterVerificationError,
    CheckpointMismatch,
    LoraTrainConfig,
    TrainingCancelled,
    train_lora,
    verify_adapter,
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


def test_training_lowers_loss_and_changes_only_the_lora_weights(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    result = train_lora(
        config=quick_config(epochs=10), base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "a"
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
    assert reports[-1].eta_seconds == 0 and all(r.tokens_per_second > 0 for r in reports)


def test_trains_from_chat_jsonl(tiny_model_dir, tmp_path):
    write_chat_jsonl(tmp_path / "train.jsonl", CONVERSATIONS)
    result = train_lora(
        config=quick_config(max_steps=1),
        base_model=tiny_model_dir,
        jsonl=tmp_path / "train.jsonl",
        out_dir=tmp_path / "a",
    )
    assert result.metrics["steps"] == 1


def test_cancel_then_resume_continues_from_checkpoint_and_matches_uninterrupted_run(tiny_model_dir, tmp_path):
    import torch

    config = quick_config(epochs=3)
    straight = train_lora(
        config=config, base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "straight"
    )

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

    steps = []
    resumed = train_lora(
        config=config,
        base_model=tiny_model_dir,
        conversations=CONVERSATIONS,
        out_dir=tmp_path / "resumed",
        resume=True,
        progress=lambda p: steps.append(p.step),
    )
    assert resumed.resumed_from_step == 3 and steps[0] == 4 and steps[-1] == 9
    expected, actual = adapter_tensors(straight.adapter_dir), adapter_tensors(resumed.adapter_dir)
    assert expected.keys() == actual.keys()
    assert all(torch.allclose(expected[k], actual[k], atol=1e-6) for k in expected)
    assert not any(p.name.endswith(".work") for p in tmp_path.iterdir())


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


def test_checksum_detects_a_tampered_or_missing_adapter_file(tiny_model_dir, tmp_path):
    result = train_lora(
        config=quick_config(max_steps=1), base_model=tiny_model_dir, conversations=CONVERSATIONS, out_dir=tmp_path / "a"
    )
    weights = result.adapter_dir / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterVerificationError, match="adapter_model.safetensors does not match"):
        verify_adapter(result.adapter_dir)
    weights.unlink()
    with pytest.raises(AdapterVerificationError, match="missing"):
        verify_adapter(result.adapter_dir)
    with pytest.raises(AdapterVerificationError, match="not a finished adapter"):
        verify_adapter(tmp_path)
