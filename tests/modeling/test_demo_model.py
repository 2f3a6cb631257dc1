import json

import pytest

from modeling.demo_model import MANIFEST_NAME, ensure_demo_model, is_complete

pytestmark = pytest.mark.demo_model


def test_converted_demo_model_answers_a_chat_prompt(demo_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir, dtype=torch.float32)
    assert getattr(model.config, "quantization_config", None) is None
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_second_call_returns_the_existing_conversion_untouched(demo_model_dir):
    weights = demo_model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert ensure_demo_model(demo_model_dir) == demo_model_dir
    assert weights.stat().st_mtime_ns == before


def test_folder_with_a_missing_file_is_not_complete(demo_model_dir, tmp_path):
    manifest = json.loads((demo_model_dir / MANIFEST_NAME).read_text())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert is_complete(demo_model_dir)
    assert not is_complete(tmp_path)
