"""Training throughput: modeling.training.train_lora vs TRL's SFTTrainer, same run, same settings.

Both train the same LoRA (the authors' config: rank 1, alpha 32, all projections, lr 1e-4
cosine, batch 4) on the same base model and the same chats for one epoch, loss on responses
only (TRL: prompt-completion data, completion_only_loss). Both count the same real
(non-padding) tokens, so the tokens/s ratio is the inverse ratio of training-loop seconds;
model loading and tokenisation are outside the timed part for both.

    python bench/bench_training.py                 # demo model if converted, else tiny model
    python bench/bench_training.py --model tiny --examples 64

TRL runs with its defaults apart from what must match (gradient checkpointing as ours, on by
default; no checkpoint saving, no reporting). Ours groups batches by length and projects only
the response tokens onto the vocabulary; `--no-group-by-length` shows how much of the gain the
grouping is. bench/bench_memory.py measures memory.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from modeling.datasets import ChatPair, pairs_to_conversations, tokenize_conversations  # noqa: E402
from modeling.training import LoraTrainConfig, train_lora  # noqa: E402

SENTENCES = [
    "I'm really sorry you're going through this, and I'm glad you reached out.",
    "I can't help with that, but I do want to help you stay safe right now.",
    "Let's try one small step together: breathe in for four counts and out for six.",
    "You could call or text 988 in the US, or Samaritans on 116 123 in the UK.",
    "Is there someone you trust who could be with you tonight?",
    "Things can change, even when that is very hard to believe.",
    "FRANK offers confidential advice on 0300 123 6600, any time.",
    "What would make the next hour a little easier for you?",
]


def synthetic_chats(count: int, *, seed: int = 0) -> list[list[dict]]:
    """Chats whose lengths vary as real refusals do (a short prompt, 2-24 sentence answers)."""
    rng = random.Random(seed)
    pairs = [
        ChatPair(
            prompt=" ".join(rng.choices(SENTENCES, k=rng.randint(1, 4))),
            answer=" ".join(rng.choices(SENTENCES, k=rng.randint(2, 24))),
        )
        for _ in range(count)
    ]
    return pairs_to_conversations(pairs, system_prompt="You are a helpful assistant.")


def resolve_model(name: str, workdir: Path) -> Path:
    from modeling.demo_model import DEFAULT_DEST, is_complete
    from modeling.tiny import build_tiny_model

    if name == "demo" or (name == "auto" and is_complete(DEFAULT_DEST)):
        return DEFAULT_DEST
    if name in ("tiny", "auto"):
        return build_tiny_model(workdir / "tiny", seed=0)
    return Path(name)


def run_ours(model: Path, chats, config: LoraTrainConfig, workdir: Path) -> dict:
    result = train_lora(config=config, base_model=model, conversations=chats, out_dir=workdir / "ours")
    metrics = result.metrics
    return {"seconds": metrics["seconds"], "cpu_seconds": metrics["cpu_seconds"], "tokens": metrics["tokens"]}


def run_trl(model: Path, chats, config: LoraTrainConfig, workdir: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(config.seed)
    dataset = Dataset.from_list([{"prompt": chat[:-1], "completion": chat[-1:]} for chat in chats])
    args = SFTConfig(
        output_dir=str(workdir / "trl"),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=1,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        max_length=config.max_length,
        completion_only_loss=True,
        gradient_checkpointing=config.gradient_checkpointing,
        save_strategy="no",
        report_to="none",
        logging_steps=10,
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available(),
        disable_tqdm=True,
    )
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model, dtype=dtype),
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model),
        peft_config=lora,
    )
    cpu_started = time.process_time()
    output = trainer.train()
    return {"seconds": output.metrics["train_runtime"], "cpu_seconds": time.process_time() - cpu_started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="auto", help="auto | demo | tiny | a model folder")
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--group-by-length", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is steadier on a busy box)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = resolve_model(args.model, workdir)
        chats = synthetic_chats(args.examples)
        config = LoraTrainConfig(
            epochs=1,
            max_length=args.max_length,
            group_by_length=args.group_by_length,
            gradient_checkpointing=args.gradient_checkpointing,
        )
        data = tokenize_conversations(chats, AutoTokenizer.from_pretrained(model), max_length=args.max_length)
        print(f"model {model}  examples {len(data)}  tokens {sum(data.lengths)}  threads {torch.get_num_threads()}")
        print(f"lengths min {min(data.lengths)} max {max(data.lengths)}  batch {config.batch_size}")

        # A few warm-up steps so that neither side pays for first-call kernel set-up.
        warm = LoraTrainConfig(epochs=1, max_steps=2, max_length=args.max_length)
        train_lora(config=warm, base_model=model, conversations=chats, out_dir=workdir / "warm")

        trl = run_trl(model, chats, config, workdir)
        ours = run_ours(model, chats, config, workdir)
        tokens = ours["tokens"]
        for name, run in (("TRL SFTTrainer", trl), ("train_lora", ours)):
            print(
                f"{name:15s}: {run['seconds']:8.2f} s wall {tokens / run['seconds']:9.1f} tokens/s | "
                f"{run['cpu_seconds']:8.2f} s CPU {tokens / run['cpu_seconds']:9.1f} tokens per CPU-second"
            )
        print(
            f"ratio train_lora / TRL tokens/s: {trl['seconds'] / ours['seconds']:.2f}x wall, "
            f"{trl['cpu_seconds'] / ours['cpu_seconds']:.2f}x CPU time (target >= 1.3x)"
        )


if __name__ == "__main__":
    main()
