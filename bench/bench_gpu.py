"""GPU check: bf16 LoRA steps/s and tokens/s, and batched generation, on a random-weight model.

Runs the project's own code (modeling.training.train_lora, modeling.transformers_backend) on a
random Qwen3 model of at least 0.5B parameters, so the GPU path is measured without any
download. Meant for a lent GPU machine, in well under 8 minutes:

    .venv/bin/python bench/bench_gpu.py                 # on the GPU host
    .venv/bin/python bench/bench_gpu.py --smoke         # the same code path, tiny, on CPU

Prints one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# About 0.52B parameters (Qwen3 layout; the trained-on-the-fly tokenizer keeps the vocabulary small).
LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=26,
    num_attention_heads=16,
    num_key_value_heads=4,
    head_dim=64,
    intermediate_size=5632,
)
SMOKE = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    intermediate_size=128,
)


def conversations(n: int) -> list[list[dict]]:
    words = "I feel overwhelmed tonight and I do not know who to talk to about it".split()
    return [
        [
            {"role": "user", "content": " ".join(words[(i + j) % len(words)] for j in range(40))},
            {"role": "assistant", "content": " ".join(words[(i * 3 + j) % len(words)] for j in range(160))},
        ]
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU: checks the code path only")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()

    import torch

    from modeling.generation import Condition, PromptItem, Sampling
    from modeling.tiny import build_tiny_model
    from modeling.training import LoraTrainConfig, train_lora
    from modeling.transformers_backend import TransformersBackend

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        sys.exit("no CUDA device: run with --smoke to check the code path on CPU")
    shape = SMOKE if args.smoke else LARGE
    steps = 3 if args.smoke else args.steps
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_model(Path(tmp) / "base", seed=0, **shape)
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            params = sum(
                p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base)).parameters()
            )
        config = LoraTrainConfig(
            batch_size=8,
            epochs=1,
            max_length=512,
            max_steps=steps,
            warmup_steps=0,
            dtype="auto",
            device="auto",
            log_every=10,
        )
        started = time.perf_counter()
        result = train_lora(
            config=config, base_model=base, out_dir=Path(tmp) / "adapter", conversations=conversations(8 * steps)
        )
        train_seconds = time.perf_counter() - started
        metrics = result.metrics

        backend = TransformersBackend(base, batch_size=16)
        prompts = [PromptItem(id=str(i), text=f"Message number {i}: I feel overwhelmed.") for i in range(16)]
        conditions = [Condition(key="base"), Condition(key="lora", adapter_path=str(result.adapter_dir))]
        backend.generate(conditions[:1], prompts[:2], Sampling(max_new_tokens=4))  # warm-up (loads, compiles)
        started = time.perf_counter()
        generations = backend.generate(conditions, prompts, Sampling(max_new_tokens=64))
        gen_seconds = time.perf_counter() - started
        new_tokens = sum(g.completion_tokens for g in generations)

    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                "dtype": result.manifest["dtype"],
                "parameters": params,
                "train_steps": metrics["steps"],
                "train_steps_per_second": metrics["steps"] / metrics["seconds"],
                "train_tokens_per_second": metrics["tokens_per_second"],
                "train_wall_seconds_including_load": round(train_seconds, 1),
                "generation_batch": 16,
                "generation_tokens_per_second": new_tokens / gen_seconds,
                "generation_new_tokens": new_tokens,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
