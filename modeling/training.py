"""LoRA fine-tuning with PEFT and a plain torch loop.

`train_lora` reads top to bottom: data, model, optimiser, loop, save. It writes only the
adapter (PEFT safetensors) plus a manifest and a checksum file, published all or nothing (see
modeling.adapters), so a killed process never leaves a half-written adapter at `out_dir`.

While it trains, a checkpoint (adapter, optimiser, scheduler, RNG, step) is written to a work
folder beside `out_dir` every `checkpoint_every_steps` steps or `checkpoint_every_minutes`
minutes, whichever comes first, and when the run is cancelled. `resume=True` continues from the
newest one, mid-epoch if need be: the data order is fixed by (seed, epoch), so a resumed run
ends with the same weights as an uninterrupted one.

Memory (docs/training.md has the measurements): a step holds a batch of 4 chats of ~1,500
tokens. Three things keep a demo-model run within 3 GB on CPU: gradient checkpointing (on by
default), a loss that projects only the response tokens onto the vocabulary, and an allocator
set up so that freed activation buffers go back to the operating system.

A plain loop rather than transformers' Trainer: the loop is short, batches are grouped by
length (less padding), and nothing runs per step beyond forward, backward and the optimiser
(no per-step loss sync unless progress is reported) -- see bench/bench_training.py.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from modeling.adapters import (
    MANIFEST_NAME,
    MAX_LORA_RANK,
    file_sha256,
    publish,
    save_adapter,
    verify_adapter,
)
from modeling.datasets import (
    IGNORE_INDEX,
    collate,
    length_grouped_batches,
    padding_share,
    read_chat_jsonl,
    snapshot_hash,
    tokenize_conversations,
)

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
STATE_NAME = "training_state.pt"
# Fields that change how a run is carried out but not the weights it ends with: a checkpoint
# written under other values of these may still be resumed.
OPERATIONAL_FIELDS = ("gradient_checkpointing", "checkpoint_every_steps", "checkpoint_every_minutes", "log_every")


@dataclass
class LoraTrainConfig:
    """Everything that decides a LoRA run. Defaults are the PsychoSafe authors' released config.

    rank / alpha / dropout / target_modules: the LoRA adapter (rank 1, alpha 32, no dropout,
        every attention and MLP projection). alpha / rank scales the update: 32 at rank 1.
        rank is at most MAX_LORA_RANK (256), the largest rank the vLLM engines are built for.
    learning_rate / lr_scheduler / warmup_steps: AdamW at 1e-4, cosine decay after 100 linear
        warm-up steps (transformers' schedulers; "linear" and "constant_with_warmup" also work).
    batch_size / epochs / max_length: 4 chats per step, 5 passes, chats cut at 4096 tokens.
        Loss is on response tokens only (see modeling.datasets).
    max_steps: stop early after this many optimiser steps (smoke runs); None = all epochs.
    group_by_length: batch chats of similar length together (less padding, same data).
    seed: fixes LoRA initialisation and data order.
    dtype: "auto" = bfloat16 on a CUDA GPU that supports it, float32 otherwise; or name one.
    device: "auto" = cuda when available, else cpu; or e.g. "cuda:1".
    gradient_checkpointing: keep only each layer's input during the forward pass and recompute
        the rest in the backward pass. On by default: a demo-model run on the Studio's chats
        peaks at 8.4 GiB without it and 2.1 GiB with it, for about 15% more time per step.
    checkpoint_every_steps / checkpoint_every_minutes: write a resumable checkpoint after this
        many optimiser steps or minutes since the last one, whichever comes first (50 steps,
        5 minutes); 0 switches that trigger off.
    log_every: report progress every N steps; each report syncs the device once.
    """

    rank: int = 1
    alpha: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ALL_PROJECTIONS
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    warmup_steps: int = 100
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    batch_size: int = 4
    epochs: int = 5
    max_length: int = 4096
    max_steps: int | None = None
    group_by_length: bool = True
    seed: int = 0
    dtype: str = "auto"
    device: str = "auto"
    gradient_checkpointing: bool = True
    checkpoint_every_steps: int = 50
    checkpoint_every_minutes: float = 5.0
    log_every: int = 1

    MAX_RANK: ClassVar[int] = MAX_LORA_RANK  # for forms: the largest rank accepted here

    def __post_init__(self):
        if not 1 <= self.rank <= self.MAX_RANK:
            raise ValueError(f"rank must be between 1 and {self.MAX_RANK}, not {self.rank}")
        if self.checkpoint_every_steps < 0 or self.checkpoint_every_minutes < 0:
            raise ValueError("checkpoint intervals must be positive, or 0 to switch them off")

    @classmethod
    def from_dict(cls, values: dict) -> LoraTrainConfig:
        """Build from a dict (e.g. a stored run's config), refusing unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown LoRA config fields: {', '.join(unknown)}")
        values = dict(values)
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def as_dict(self) -> dict:
        values = asdict(self)
        values["target_modules"] = list(self.target_modules)
        return values


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total_steps: int
    epoch: int
    loss: float
    tokens_per_second: float
    eta_seconds: float
    resumed_from_step: int = 0  # the checkpoint this process started from; 0 = from scratch


@dataclass
class TrainResult:
    adapter_dir: Path
    manifest: dict
    losses: list[float] = field(default_factory=list)  # one per step run in this process
    resumed_from_step: int = 0
    model: Any = field(default=None, repr=False)  # the trained PeftModel, only with keep_model=True

    @property
    def metrics(self) -> dict:
        return self.manifest["metrics"]


class TrainingCancelled(Exception):
    """should_cancel() returned True; a checkpoint at `step` is kept for resume."""

    def __init__(self, step: int):
        super().__init__(f"training cancelled at step {step}")
        self.step = step


class CheckpointMismatch(RuntimeError):
    """A checkpoint was written for another config or other data; it cannot be resumed."""


def train_lora(
    *,
    config: LoraTrainConfig,
    base_model: str | Path,
    out_dir: str | Path,
    conversations: Sequence[Sequence[dict]] | None = None,
    jsonl: str | Path | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = False,
    keep_model: bool = False,
) -> TrainResult:
    """Train a LoRA adapter on chat conversations (or a TRL chat JSONL) and save it to out_dir.

    `should_cancel()` is asked before every step; True stops the run with TrainingCancelled
    after writing a checkpoint. With resume=True a finished adapter at out_dir is verified and
    returned as it is, and an unfinished run continues from its newest checkpoint.
    keep_model=True keeps the trained PeftModel in TrainResult.model (tests, notebooks).
    """
    out_dir, work_dir = Path(out_dir), _work_dir(Path(out_dir))
    if resume and (out_dir / MANIFEST_NAME).exists():
        return TrainResult(adapter_dir=out_dir, manifest=verify_adapter(out_dir))
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; choose a new folder for the adapter")
    if not resume:
        shutil.rmtree(work_dir, ignore_errors=True)  # a stale run's checkpoints must not leak in
    _return_freed_memory_to_the_os()
    try:
        return _train(
            config=config,
            base_model=base_model,
            out_dir=out_dir,
            work_dir=work_dir,
            conversations=conversations if conversations is not None else _read_jsonl(jsonl),
            progress=progress,
            should_cancel=should_cancel,
            resume=resume,
            keep_model=keep_model,
        )
    finally:
        _trim_heap()


def _train(*, config, base_model, out_dir, work_dir, conversations, progress, should_cancel, resume, keep_model):
    from transformers import AutoTokenizer, set_seed

    set_seed(config.seed)
    device, dtype = _resolve_device(config.device), _resolve_dtype(config.dtype, config.device)

    # Data
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    data = tokenize_conversations(conversations, tokenizer, max_length=config.max_length)
    if not len(data):
        raise ValueError("no training example has a response token within max_length")
    data_hash = snapshot_hash(conversations)

    # Model
    model = _lora_model(base_model, config=config, device=device, dtype=dtype)

    # Optimiser
    loop = _Loop(steps_per_epoch=math.ceil(len(data) / config.batch_size), config=config)
    optimizer, scheduler = _optimiser(model, config=config, total_steps=loop.total_steps)
    if resume:
        loop.step = loop.resumed_from_step = _restore_checkpoint(
            work_dir, model=model, optimizer=optimizer, scheduler=scheduler, config=config, data_hash=data_hash
        )

    # Loop
    def checkpoint(step):
        _save_checkpoint(
            work_dir,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            step=step,
            config=config,
            data_hash=data_hash,
        )

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loop.run(
        model,
        optimizer,
        scheduler,
        data,
        device=device,
        pad_id=pad_id,
        progress=progress,
        should_cancel=should_cancel,
        checkpoint=checkpoint,
    )

    # Save
    manifest = {
        "base_model": _describe_base(base_model),
        "data": {
            "snapshot_sha256": data_hash,
            "examples": len(data),
            "truncated": data.truncated,
            "dropped": data.dropped,
            "padding_share": loop.padding_share,
        },
        "config": config.as_dict(),
        "metrics": loop.metrics(),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "library_versions": _library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_adapter(model, out_dir, manifest=manifest)
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainResult(
        adapter_dir=out_dir,
        manifest=manifest,
        losses=loop.losses,
        resumed_from_step=loop.resumed_from_step,
        model=model.eval() if keep_model else None,
    )


def _read_jsonl(jsonl) -> list[list[dict]]:
    if jsonl is None:
        raise ValueError("give conversations or jsonl")
    return read_chat_jsonl(jsonl)


@dataclass
class _Loop:
    """The optimisation loop and its running totals (step, losses, tokens, time)."""

    steps_per_epoch: int
    config: LoraTrainConfig
    step: int = 0
    resumed_from_step: int = 0
    losses: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process (all threads): steadier on a busy machine
    padding_shares: list[float] = field(default_factory=list)
    checkpointed_step: int = 0
    checkpointed_at: float = 0.0  # time.monotonic() of the last checkpoint (or of the start)

    @property
    def total_steps(self) -> int:
        total = self.steps_per_epoch * self.config.epochs
        return total if self.config.max_steps is None else min(total, self.config.max_steps)

    @property
    def padding_share(self) -> float:
        return sum(self.padding_shares) / len(self.padding_shares) if self.padding_shares else 0.0

    def run(self, model, optimizer, scheduler, data, *, device, pad_id, progress, should_cancel, checkpoint) -> None:
        """Train from self.step to total_steps, checkpointing when one is due or when cancelled."""
        import torch

        config, pending, started, cpu_started = self.config, [], time.perf_counter(), time.process_time()
        self.checkpointed_step, self.checkpointed_at = self.step, time.monotonic()
        model.train()
        for epoch in range(self.step // self.steps_per_epoch, config.epochs):
            batches = _epoch_batches(data, config=config, epoch=epoch)
            self.padding_shares.append(padding_share(batches, data.lengths))
            for indices in batches[self.step - epoch * self.steps_per_epoch :]:
                if self.step >= self.total_steps:
                    break
                if should_cancel is not None and should_cancel():
                    self._checkpoint(checkpoint)
                    raise TrainingCancelled(self.step)
                batch = collate([data.examples[i] for i in indices], pad_token_id=pad_id)
                loss = response_loss(model, {key: value.to(device, non_blocking=True) for key, value in batch.items()})
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                self.step += 1
                self.tokens += sum(data.lengths[i] for i in indices)
                pending.append(loss.detach())  # no .item() here: that would sync every step
                if progress is not None and (self.step % config.log_every == 0 or self.step == self.total_steps):
                    self.losses += _drain(pending)
                    self.seconds = time.perf_counter() - started
                    progress(self._progress(epoch))
                if self.step < self.total_steps and self._checkpoint_due():
                    self._checkpoint(checkpoint)
            if self.step >= self.total_steps:
                break
        self.losses += _drain(pending)
        self.seconds = time.perf_counter() - started
        self.cpu_seconds = time.process_time() - cpu_started

    def _checkpoint_due(self) -> bool:
        every_steps, every_minutes = self.config.checkpoint_every_steps, self.config.checkpoint_every_minutes
        if every_steps and self.step - self.checkpointed_step >= every_steps:
            return True
        return bool(every_minutes) and time.monotonic() - self.checkpointed_at >= every_minutes * 60

    def _checkpoint(self, checkpoint) -> None:
        if self.step > self.checkpointed_step:
            checkpoint(self.step)
        self.checkpointed_step, self.checkpointed_at = self.step, time.monotonic()

    def _progress(self, epoch: int) -> TrainProgress:
        steps_per_second = (self.step - self.resumed_from_step) / self.seconds
        return TrainProgress(
            step=self.step,
            total_steps=self.total_steps,
            epoch=epoch,
            loss=self.losses[-1],
            tokens_per_second=self.tokens / self.seconds,
            eta_seconds=(self.total_steps - self.step) / steps_per_second,
            resumed_from_step=self.resumed_from_step,
        )

    def metrics(self) -> dict:
        return {
            "steps": self.step,
            "resumed_from_step": self.resumed_from_step,
            "first_loss": self.losses[0] if self.losses else None,
            "final_loss": self.losses[-1] if self.losses else None,
            "tokens": self.tokens,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "tokens_per_second": self.tokens / self.seconds if self.seconds else 0.0,
        }


def response_loss(model, batch: dict):
    """Mean next-token cross-entropy over the response tokens (labels != -100) of a batch.

    Equal to `model(**batch).loss`, without its cost: that projects every position onto the
    vocabulary (fp32 logits of batch x length x 49,152 for SmolLM2: 1.2 GB for 4 chats of 1,500
    tokens, and as much again for their softmax and their gradient), although only the
    responses, about one token in six of the Studio's chats, count. Here the decoder's hidden
    states are taken first and only the response positions go through the output layer.
    Models whose causal-LM head does more than that layer (Gemma 2's logit soft-capping,
    Cohere's logit scale) take the plain path.

    A right-padded batch (as `collate` makes) needs no padding mask: under the causal mask no
    real token can see the padding after it, and the padding's own outputs carry no label.
    Without a mask, sdpa runs its causal kernel, which skips the masked half of the attention
    matrix (a third less time per step on CPU than with the 4-D mask).
    """
    import torch.nn.functional as F

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    settings = causal_lm.config
    if getattr(settings, "final_logit_softcapping", None) or getattr(settings, "logit_scale", None):
        return model(**batch).loss
    mask = batch["attention_mask"]
    right_padded = bool((mask[:, 1:] <= mask[:, :-1]).all())
    hidden = causal_lm.get_decoder()(
        input_ids=batch["input_ids"], attention_mask=None if right_padded else mask, use_cache=False
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    supervised = targets != IGNORE_INDEX
    logits = causal_lm.get_output_embeddings()(hidden[:, :-1][supervised])
    return F.cross_entropy(logits.float(), targets[supervised])


def _drain(pending: list) -> list[float]:
    """Move queued loss tensors to Python floats (one device sync for all of them)."""
    if not pending:
        return []
    import torch

    values = torch.stack(pending).float().cpu().tolist()
    pending.clear()
    return values


def _resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _resolve_dtype(name: str, device_name: str):
    """bf16 on a GPU that has it (half the memory, tensor cores); fp32 on CPU (bf16 is slow there)."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    on_cuda = _resolve_device(device_name).type == "cuda"
    return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32


def _lora_model(base_model, *, config: LoraTrainConfig, device, dtype):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # sdpa, never eager: eager attention keeps batch x heads x length^2 attention weights per
    # layer for the backward pass (4 x 9 x 1,500^2 floats = 0.3 GB a copy, per layer, on SmolLM2).
    # use_safetensors: weights are tensors only; a pickled pytorch_model.bin (which can run code
    # when loaded) is refused, whatever folder the base model names.
    model = AutoModelForCausalLM.from_pretrained(
        base_model, dtype=dtype, attn_implementation="sdpa", use_safetensors=True
    ).to(device)
    model.config.use_cache = False  # a KV cache is for generation; training would only hold it
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()  # non-reentrant; also makes the embeddings' output require grad
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _optimiser(model, *, config: LoraTrainConfig, total_steps: int):
    import torch
    from transformers import get_scheduler

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(
        config.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=total_steps,
    )
    return optimizer, scheduler


def _epoch_batches(data, *, config: LoraTrainConfig, epoch: int) -> list[list[int]]:
    if config.group_by_length:
        return length_grouped_batches(data.lengths, batch_size=config.batch_size, seed=config.seed, epoch=epoch)
    import torch

    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(len(data), generator=generator).tolist()
    return [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]


# Memory --------------------------------------------------------------------------------------

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 1 << 20


def _return_freed_memory_to_the_os() -> None:
    """Keep freed activation buffers from piling up in the C heap (glibc; elsewhere a no-op).

    glibc serves blocks below a moving threshold (up to 32 MB) from its heap, and a training
    step allocates and frees tens of gigabytes of 5-15 MB activation buffers; the heap
    fragments: a checkpointed demo-model run peaked at 5.5 GiB resident with glibc's defaults
    and at 2.1 GiB with these two settings:
    - a fixed 1 MB mmap threshold: every larger buffer is its own mapping, unmapped on free;
    - transparent huge pages for torch's large buffers (THP_MEM_ALLOC_ENABLE, read when torch
      is first imported, so it only takes effect here if torch is not imported yet): fresh
      mappings then fault in 2 MB at a time instead of 4 KB. The threshold alone cost 1.4x
      the CPU time per step in page faults; with huge pages the pair costs about 15%.
    Both stay in force for the rest of the process (the Studio runs each task in its own).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def _trim_heap() -> None:
    """Hand the heap's free pages back to the OS once training is over (glibc; else a no-op)."""
    import gc

    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc():
    import ctypes

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


# Checkpoints ---------------------------------------------------------------------------------


def _work_dir(out_dir: Path) -> Path:
    """Checkpoints live beside the adapter folder (same filesystem, so renames are atomic)."""
    return out_dir.parent / f".{out_dir.name}.work"


def _save_checkpoint(work_dir: Path, *, model, optimizer, scheduler, step: int, config, data_hash: str) -> None:
    import torch

    staging = work_dir / f".checkpoint-{step}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": _rng_state(),
        "config": config.as_dict(),
        "data_sha256": data_hash,
    }
    torch.save(state, staging / STATE_NAME)
    publish(staging, work_dir / f"checkpoint-{step}")
    for older in _checkpoints(work_dir)[:-1]:
        shutil.rmtree(older)


def _checkpoints(work_dir: Path) -> list[Path]:
    if not work_dir.is_dir():
        return []
    found = [p for p in work_dir.glob("checkpoint-*") if p.is_dir()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _restore_checkpoint(work_dir: Path, *, model, optimizer, scheduler, config, data_hash: str) -> int:
    """Load the newest checkpoint into model/optimiser/scheduler; return its step (0 if none)."""
    import pickle

    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    checkpoints = _checkpoints(work_dir)
    if not checkpoints:
        return 0
    latest = checkpoints[-1]
    try:
        # weights_only: tensors and plain Python values only, so loading runs no pickled code.
        state = torch.load(latest / STATE_NAME, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointMismatch(f"{latest} holds pickled objects (an older format); it is not loaded") from None
    if _decisive(state["config"]) != _decisive(config.as_dict()) or state["data_sha256"] != data_hash:
        raise CheckpointMismatch(f"{latest} was written for another config or other training data")
    set_peft_model_state_dict(model, load_file(latest / "adapter_model.safetensors"))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return state["step"]


def _decisive(config: dict) -> dict:
    return {name: value for name, value in config.items() if name not in OPERATIONAL_FIELDS}


def _rng_state() -> dict:
    """Every random generator a step may draw from, as tensors and plain numbers."""
    import random

    import numpy
    import torch

    version, python_state, gauss = random.getstate()
    name, keys, position, has_gauss, cached_gaussian = numpy.random.get_state()
    return {
        "python": [version, list(python_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(numpy.int64)), position, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    import random

    import numpy
    import torch

    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    numpy.random.set_state((name, keys.numpy().astype(numpy.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


# The adapter's description -------------------------------------------------------------------


def _describe_base(base_model) -> dict:
    """Name the base model; for a local folder also hash its config (weights are too big to hash)."""
    config = Path(base_model) / "config.json"
    return {
        "name_or_path": str(base_model),
        "config_sha256": file_sha256(config) if config.is_file() else None,
    }


def _library_versions() -> dict:
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
