import pytest

from modeling.generation import Condition, PromptItem, Sampling
from modeling.transformers_backend import TransformersBackend

PROMPTS = [
    PromptItem("p1", "Hello"),
    PromptItem("p2", "I feel very heavy today and I do not know who to talk to."),
    PromptItem("p3", "Where is the library?"),
    PromptItem("p4", "Can you help me cook rice, step by step, please?"),
    PromptItem("p5", "Why?"),
]
GREEDY = Sampling(temperature=0.0, max_new_tokens=12)
BASE = Condition(key="base")


@pytest.fixture(scope="module")
def perturbed_adapter(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter whose B matrices are random (PEFT starts them at zero: a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    path = tmp_path_factory.mktemp("adapter") / "perturbed"
    model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return TransformersBackend(tiny_model_dir, batch_size=4)


def test_batched_greedy_output_equals_one_prompt_at_a_time(tiny_model_dir, backend):
    batched = backend.generate([BASE], PROMPTS, GREEDY)
    single = TransformersBackend(tiny_model_dir, batch_size=1).generate([BASE], PROMPTS, GREEDY)
    assert [g.prompt_id for g in batched] == [p.id for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in single]
    assert {g.extra["batch_size"] for g in batched} == {4, 1}


def test_generation_records_condition_tokens_sampling_and_timing(backend):
    (generation,) = backend.generate([BASE], PROMPTS[:1], GREEDY)
    assert generation.condition_key == "base" and generation.prompt_id == "p1"
    assert generation.backend == "transformers" and generation.adapter_path is None
    assert generation.sampling == GREEDY.as_dict()
    assert generation.prompt_tokens > 0 and 0 < generation.completion_tokens <= 12
    assert generation.seconds > 0


def test_system_prompt_changes_the_rendered_chat_and_the_output(backend):
    kind = Condition(key="kind", system_prompt="You are kind and careful. Offer 988 and Samaritans.")
    backend._load()
    assert "<|im_start|>system" not in backend._render(BASE, PROMPTS[0])
    assert backend._render(kind, PROMPTS[0]).startswith("<|im_start|>system\nYou are kind")
    plain = backend.generate([BASE], PROMPTS[:3], GREEDY)
    guided = backend.generate([kind], PROMPTS[:3], GREEDY)
    assert all(g.prompt_tokens > p.prompt_tokens for g, p in zip(guided, plain, strict=True))
    assert [g.text for g in guided] != [g.text for g in plain]


def test_adapter_changes_output_and_base_condition_still_gets_the_base_model(tiny_model_dir, perturbed_adapter):
    backend = TransformersBackend(tiny_model_dir, batch_size=4)
    tuned = Condition(key="lora", adapter_path=perturbed_adapter)
    base_first = backend.generate([BASE], PROMPTS, GREEDY)
    mixed = backend.generate([BASE, tuned, BASE], PROMPTS, GREEDY)
    assert [g.condition_key for g in mixed] == ["base"] * 5 + ["lora"] * 5 + ["base"] * 5
    assert [g.text for g in mixed[5:10]] != [g.text for g in base_first]
    assert [g.text for g in mixed[:5]] == [g.text for g in base_first] == [g.text for g in mixed[10:]]
    assert all(g.adapter_path == perturbed_adapter for g in mixed[5:10])


def test_sampling_is_reproducible_for_a_seed_and_varies_across_seeds(backend):
    def sample(seed):
        return [
            g.text for g in backend.generate([BASE], PROMPTS, Sampling(temperature=1.0, max_new_tokens=12, seed=seed))
        ]

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_progress_counts_finished_prompts_over_all_conditions(backend):
    calls = []
    backend.generate(
        [BASE, Condition("other", system_prompt="Hi")], PROMPTS, GREEDY, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(4, 10), (5, 10), (9, 10), (10, 10)]


def test_a_base_model_with_pickled_weights_is_refused(tiny_model_dir, tmp_path):
    """Only safetensors weights load: a pytorch_model.bin (a pickle, which can run code) is refused."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict(), pickled / "pytorch_model.bin")
    assert (pickled / "pytorch_model.bin").exists() and not (pickled / "model.safetensors").exists()
    with pytest.raises(OSError, match="safetensors"):
        TransformersBackend(pickled, batch_size=1).generate([BASE], PROMPTS[:1], GREEDY)
