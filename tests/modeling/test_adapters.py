import json

import pytest

from modeling.adapters import (
    CHECKSUM_NAME,
    MAX_LORA_RANK,
    VLLM_LORA_RANKS,
    AdapterVerificationError,
    adapter_rank,
    file_sha256,
    read_checksums,
    save_adapter,
    verify_adapter,
    verify_if_checksummed,
    vllm_lora_rank,
    weights_sha256,
)


@pytest.fixture(scope="module")
def peft_model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], rank_pattern={"v_proj": 8})
    return get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), config)


@pytest.fixture
def adapter(peft_model, tmp_path):
    return save_adapter(peft_model, tmp_path / "adapter", manifest={"note": "test"})


def test_saved_adapter_lists_every_file_in_sha256sums_and_verifies(adapter, tmp_path):
    listed = read_checksums(adapter)
    names = {p.name for p in adapter.iterdir()} - {CHECKSUM_NAME}
    assert set(listed) == names >= {"adapter_model.safetensors", "adapter_config.json", "manifest.json"}
    assert all(listed[name] == file_sha256(adapter / name) for name in names)
    assert verify_adapter(adapter) == {"note": "test"} == verify_if_checksummed(adapter)
    assert weights_sha256(adapter) == file_sha256(adapter / "adapter_model.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no staging folder is left behind


def test_a_failed_save_leaves_nothing_at_the_destination(tmp_path):
    class Failing:
        def save_pretrained(self, folder):
            (folder / "adapter_model.safetensors").write_bytes(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_adapter(Failing(), tmp_path / "adapter", manifest={})
    assert not (tmp_path / "adapter").exists()


def test_checksum_detects_a_tampered_or_missing_adapter_file(adapter, tmp_path):
    weights = adapter / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterVerificationError, match="adapter_model.safetensors does not match"):
        verify_adapter(adapter)
    weights.unlink()
    with pytest.raises(AdapterVerificationError, match="missing"):
        verify_adapter(adapter)
    with pytest.raises(AdapterVerificationError, match="not a finished adapter"):
        verify_adapter(tmp_path)


def test_an_adapter_without_its_manifest_in_the_list_is_refused(adapter):
    sums = adapter / CHECKSUM_NAME
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "manifest" not in line))
    with pytest.raises(AdapterVerificationError, match="manifest.json is not covered"):
        verify_adapter(adapter)


def test_a_plain_peft_folder_loads_unverified(peft_model, tmp_path):
    peft_model.save_pretrained(tmp_path / "plain")
    assert verify_if_checksummed(tmp_path / "plain") is None
    with pytest.raises(AdapterVerificationError, match="not a finished adapter"):
        weights_sha256(tmp_path / "plain")


def test_adapter_rank_is_the_largest_rank_in_its_config(adapter):
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    assert adapter_rank(adapter) == 8


def test_vllm_rank_covers_the_adapter_and_every_trainable_rank_has_one():
    assert [vllm_lora_rank(r) for r in (1, 2, 8, 9, 17, 256)] == [1, 8, 8, 16, 32, 256]
    assert vllm_lora_rank(MAX_LORA_RANK) == MAX_LORA_RANK in VLLM_LORA_RANKS
    with pytest.raises(ValueError, match="above vLLM's largest"):
        vllm_lora_rank(513)
