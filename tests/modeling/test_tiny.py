import hashlib
import json

from modeling.tiny import IM_END, build_tiny_model


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_tiny_model_folder_has_the_files_a_downloaded_checkpoint_has(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"]
    assert config["head_dim"] >= 32
    assert "chat_template" in json.loads((tiny_model_dir / "tokenizer_config.json").read_text())


def test_same_seed_builds_identical_files_and_another_seed_other_weights(tmp_path):
    first = _digests(build_tiny_model(tmp_path / "a", seed=3))
    again = _digests(build_tiny_model(tmp_path / "b", seed=3))
    other = _digests(build_tiny_model(tmp_path / "c", seed=4))
    assert first == again
    assert first["model.safetensors"] != other["model.safetensors"]
    assert first["tokenizer.json"] == other["tokenizer.json"]


def test_chat_template_renders_chatml_with_optional_system_turn(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    user = [{"role": "user", "content": "Hello"}]
    with_system = [{"role": "system", "content": "Be kind."}, *user]
    plain = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert plain == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    rendered = tokenizer.apply_chat_template(with_system, tokenize=False)
    assert rendered.startswith("<|im_start|>system\nBe kind.<|im_end|>\n")
    assert tokenizer.eos_token == IM_END
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_tiny_model_generates_new_tokens_from_a_chat_prompt(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]
