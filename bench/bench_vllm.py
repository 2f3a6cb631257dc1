"""Generation throughput: VllmBackend vs TransformersBackend on the same model, in one run.

Same prompts, conditions, greedy decoding and dtype (float32 on CPU) for both; each backend
is loaded and warmed up first, and only the main `generate` call is timed. Prints completion
tokens/s of each, the ratio vLLM / transformers, and how many greedy answers agree.

Needs vLLM, so it runs in .venv-vllm; started from another interpreter it re-runs itself
there (build that environment with bin/setup-vllm-env).

    .venv-vllm/bin/python bench/bench_vllm.py                 # the demo model, 16 prompts x 2
    .venv-vllm/bin/python bench/bench_vllm.py --model tiny --max-new-tokens 32
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# In-process engine: no engine-core subprocess competing for the same two cores.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

# The same prompts as the batching benchmark, so the two sets of figures compare.
from bench_generation import PROMPTS  # noqa: E402


def rerun_in_vllm_env() -> None:
    python = ROOT / ".venv-vllm" / "bin" / "python"
    if not python.exists():
        sys.exit("bench_vllm: vLLM is not installed here and .venv-vllm is missing; run bin/setup-vllm-env")
    os.execv(python, [str(python), __file__, *sys.argv[1:]])


def resolve_model(name: str, workdir: Path) -> Path:
    from modeling.demo_model import DEFAULT_DEST, ensure_demo_model
    from modeling.tiny import build_tiny_model

    if name == "tiny":
        return build_tiny_model(workdir / "tiny", seed=0)
    if name == "demo":
        return ensure_demo_model(DEFAULT_DEST)
    return Path(name)


def timed(backend, conditions, prompts, sampling):
    started = time.perf_counter()
    results = backend.generate(conditions, prompts, sampling)
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo", help="demo, tiny, or a model folder")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="transformers batch size")
    args = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        rerun_in_vllm_env()

    import torch
    import vllm as vllm_package

    from modeling.generation import Condition, PromptItem, Sampling
    from modeling.transformers_backend import TransformersBackend
    from modeling.vllm_backend import VllmBackend

    with tempfile.TemporaryDirectory() as workdir:
        model = resolve_model(args.model, Path(workdir))
        prompts = [PromptItem(id=str(i), text=PROMPTS[i % len(PROMPTS)]) for i in range(args.prompts)]
        conditions = [Condition(key="none"), Condition(key="generic", system_prompt="You are a helpful assistant.")]
        sampling = Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens)
        warm_up = ([conditions[0]], prompts[:1], Sampling(temperature=0.0, max_new_tokens=4))
        threads = torch.get_num_threads()

        # transformers first: building the vLLM engine lowers torch's thread count in-process.
        load_started = time.perf_counter()
        transformers = TransformersBackend(model, dtype="float32", batch_size=args.batch_size)
        transformers.generate(*warm_up)
        transformers_load = time.perf_counter() - load_started
        from_transformers, transformers_seconds = timed(transformers, conditions, prompts, sampling)

        load_started = time.perf_counter()
        vllm = VllmBackend(model, max_loras=1, max_lora_rank=8, dtype="float32", max_model_len=2048)
        vllm.generate(*warm_up)
        vllm_load = time.perf_counter() - load_started
        from_vllm, vllm_seconds = timed(vllm, conditions, prompts, sampling)

    vllm_tokens = sum(g.completion_tokens for g in from_vllm)
    transformers_tokens = sum(g.completion_tokens for g in from_transformers)
    vllm_rate = vllm_tokens / vllm_seconds
    transformers_rate = transformers_tokens / transformers_seconds
    agree = sum(a.text == b.text for a, b in zip(from_vllm, from_transformers, strict=True))
    print(f"model: {model} (float32, CPU threads: {threads}, vllm {vllm_package.__version__})")
    print(
        f"requests: {len(from_vllm)} ({len(conditions)} conditions x {len(prompts)} prompts), greedy, "
        f"max_new_tokens={args.max_new_tokens}"
    )
    print(
        f"vllm:         {vllm_tokens:6d} tokens in {vllm_seconds:7.2f} s = {vllm_rate:8.1f} tokens/s "
        f"(engine build + warm-up {vllm_load:.1f} s)"
    )
    print(
        f"transformers: {transformers_tokens:6d} tokens in {transformers_seconds:7.2f} s = "
        f"{transformers_rate:8.1f} tokens/s (load + warm-up {transformers_load:.1f} s, batch {args.batch_size})"
    )
    print(f"ratio vllm / transformers: {vllm_rate / transformers_rate:.2f}x")
    print(f"identical greedy answers: {agree}/{len(from_vllm)}")


if __name__ == "__main__":
    main()
