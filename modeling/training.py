"""LoRA fine-tuning with PEFT and a plain torch loop.

`train_lora` reads top to bottom: data, model, optimiser, loop, save. It writes only the
adapter (PEFT safetensors) plus a manifest and a checksum file, and it writes them to a
staging folder that is renamed into place at the end, so a killed process never leaves a
half-written adapter at `out_dir`. Each finished epoch leaves a checkpoint (adapter,
optimiser, scheduler, RNG, step) in a work folder beside `out_dir`; `resume=True` continues
from the last one and, data order being fixed by (seed, epoch), ends with the same weights as
an uninterrupted run.

A plain loop rather than transformers' Trainer: the loop is short, batches are grouped by
length (less padding), and nothing runs per step beyond forward, backward and the optimiser
(no per-step loss sync unless progress is reported) -- see bench/bench_training.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modeling.datasets import (
    collate,
    length_grouped_batches,
    padding_share,
    read_chat_jsonl,
    snapshot_hash,
    tokenize_conversations,
)

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MANIFEST_NAME = "manifest.json"
CHECKSUM_NAME = "SHA256SUMS"
STATE_NAME = "training_state.pt"


@dataclass
class LoraTrainConfig:
    """Everything that decides a LoRA run. Defaults are the PsychoSafe authors' released config.

    rank / alpha / dropout / target_modules: the LoRA adapter (rank 1, alpha 32, no dropout,
        every attention and MLP projection). alpha / rank scales the update: 32 at rank 1.
    learning_rate / lr_scheduler / warmup_steps: AdamW at 1e-4, cosine decay after 100 linear
        warm-up steps (transformers' schedulers; "linear" and "constant_with_warmup" also work).
    batch_size / epochs / max_length: 4 chats per step, 5 passes, chats cut at 4096 tokens.
        Loss is on response tokens only (see modeling.datasets).
    max_steps: stop early after this many optimiser steps (smoke runs); None = all epochs.
    group_by_length: batch chats of similar length together (less padding, same data).
    seed: fixes LoRA initialisation and data order.
    dtype: "auto" = bfloat16 on a CUDA GPU that supports it, float32 otherwise; or name one.
    device: "auto" = cuda when available, else cpu; or e.g. "cuda:1".
    gradient_checkpointing: trade compute for memory on large base models.
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
    gradient_checkpointing: bool = False
    log_every: int = 1

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


@dataclass
class TrainResult:
    adapter_dir: Path
    manifest: dict
    losses: list[float] = field(default_factory=list)  # one per step run in this process
    resumed_from_step: int = 0
    model: Any = field(default=None, repr=False)  # the trained PeftModel, still in memory

    @property
    def metrics(self) -> dict:
        return self.manifest["metrics"]


class TrainingCancelled(Exception):
    """should_cancel() returned True; the last epoch checkpoint is kept for resume."""

    def __init__(self, step: int):
        super().__init__(f"training cancelled at step {step}")
        self.step = step


class CheckpointMismatch(RuntimeError):
    """A checkpoint was written for another config or other data; it cannot be resumed."""


class AdapterVerificationError(RuntimeError):
    """An adapter folder is incomplete or its files do not match their checksums."""


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
) -> TrainResult:
    """Train a LoRA adapter on chat conversations (or a TRL chat JSONL) and save it to out_dir.

    With resume=True a finished adapter at out_dir is verified and returned as it is, and an
    unfinished run continues from its last epoch checkpoint.
    """
    from transformers import AutoTokenizer, set_seed

    out_dir, work_dir = Path(out_dir), _work_dir(Path(out_dir))
    if resume and (out_dir / MANIFEST_NAME).exists():
        return TrainResult(adapter_dir=out_dir, manifest=verify_adapter(out_dir))
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; choose a new folder for the adapter")
    if not resume:
        shutil.rmtree(work_dir, ignore_errors=True)  # a stale run's checkpoints must not leak in
    set_seed(config.seed)
    device, dtype = _resolve_device(config.device), _resolve_dtype(config.dtype, config.device)

    # Data
    conversations = conversations if conversations is not None else _read_jsonl(jsonl)
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
    _save_adapter(model, out_dir=out_dir, manifest=manifest)
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainResult(
        adapter_dir=out_dir,
        manifest=manifest,
        losses=loop.losses,
        resumed_from_step=loop.resumed_from_step,
        model=model.eval(),
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

    @property
    def total_steps(self) -> int:
        total = self.steps_per_epoch * self.config.epochs
        return total if self.config.max_steps is None else min(total, self.config.max_steps)

    @property
    def padding_share(self) -> float:
        return sum(self.padding_shares) / len(self.padding_shares) if self.padding_shares else 0.0

    def run(self, model, optimizer, scheduler, data, *, device, pad_id, progress, should_cancel, checkpoint) -> None:
        """Train from self.step to total_steps, checkpointing after each epoch that does not end the run."""
        import torch

        config, pending, started, cpu_started = self.config, [], time.perf_counter(), time.process_time()
        model.train()
        for epoch in range(self.step // self.steps_per_epoch, config.epochs):
            batches = _epoch_batches(data, config=config, epoch=epoch)
            self.padding_shares.append(padding_share(batches, data.lengths))
            for indices in batches[self.step - epoch * self.steps_per_epoch :]:
                if self.step >= self.total_steps:
                    break
                if should_cancel is not None and should_cancel():
                    raise TrainingCancelled(self.step)
                batch = collate([data.examples[i] for i in indices], pad_token_id=pad_id)
                loss = model(**{key: value.to(device, non_blocking=True) for key, value in batch.items()}).loss
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
            if self.step >= self.total_steps:
                break
            checkpoint(self.step)
        self.losses += _drain(pending)
        self.seconds = time.perf_counter() - started
        self.cpu_seconds = time.process_time() - cpu_started

    def _progress(self, epoch: int) -> TrainProgress:
        steps_per_second = (self.step - self.resumed_from_step) / self.seconds
        return TrainProgress(
            step=self.step,
            total_steps=self.total_steps,
            epoch=epoch,
            loss=self.losses[-1],
            tokens_per_second=self.tokens / self.seconds,
            eta_seconds=(self.total_steps - self.step) / steps_per_second,
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

    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype).to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()  # so checkpointed blocks see a grad-requiring input
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


# Checkpoints ---------------------------------------------------------------------------------


def _work_dir(out_dir: Path) -> Path:
    """Checkpoints live beside the adapter folder (same filesystem, so renames are atomic)."""
    return out_dir.parent / f".{out_dir.name}.work"


def _save_checkpoint(work_dir: Path, *, model, optimizer, scheduler, step: int, config, data_hash: str) -> None:
    import random

    import numpy
    import torch

    staging = work_dir / f".checkpoint-{step}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "python": random.getstate(),
            "numpy": numpy.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "config": config.as_dict(),
        "data_sha256": data_hash,
    }
    torch.save(state, staging / STATE_NAME)
    staging.rename(work_dir / f"checkpoint-{step}")
    for older in _checkpoints(work_dir)[:-1]:
        shutil.rmtree(older)


def _checkpoints(work_dir: Path) -> list[Path]:
    if not work_dir.is_dir():
        return []
    found = [p for p in work_dir.glob("checkpoint-*") if p.is_dir()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _restore_checkpoint(work_dir: Path, *, model, optimizer, scheduler, config, data_hash: str) -> int:
    """Load the newest checkpoint into model/optimiser/scheduler; return its step (0 if none)."""
    import random

    import numpy
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    checkpoints = _checkpoints(work_dir)
    if not checkpoints:
        return 0
    latest = checkpoints[-1]
    # weights_only=False: the file holds numpy RNG state; it is our own file, written above.
    state = torch.load(latest / STATE_NAME, weights_only=False)
    if state["config"] != config.as_dict() or state["data_sha256"] != data_hash:
        raise CheckpointMismatch(f"{latest} was written for another config or other training data")
    set_peft_model_state_dict(model, load_file(latest / "adapter_model.safetensors"))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    random.setstate(state["rng"]["python"])
    numpy.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["step"]


# Saving and verifying the adapter ------------------------------------------------------------


def _save_adapter(model, *, out_dir: Path, manifest: dict) -> None:
    """Write adapter + manifest + checksums to a staging folder, then rename it to out_dir."""
    staging = out_dir.parent / f".{out_dir.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)  # PEFT: adapter_model.safetensors + adapter_config.json only
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    sums = "".join(f"{_sha256(p)}  {p.name}\n" for p in sorted(staging.iterdir()) if p.is_file())
    (staging / CHECKSUM_NAME).write_text(sums)
    _fsync_folder(staging)
    staging.rename(out_dir)


def _fsync_folder(folder: Path) -> None:
    """Flush the files to disk before the rename publishes them (a crash then loses neither)."""
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def verify_adapter(path: str | Path) -> dict:
    """Check every file listed in SHA256SUMS; return the manifest, or raise naming the problem."""
    path = Path(path)
    sums_file = path / CHECKSUM_NAME
    if not sums_file.is_file():
        raise AdapterVerificationError(f"{path} has no {CHECKSUM_NAME}; it is not a finished adapter")
    listed = {}
    for line in sums_file.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.strip()] = digest
    for required in ("adapter_model.safetensors", "adapter_config.json", MANIFEST_NAME):
        if required not in listed:
            raise AdapterVerificationError(f"{path}: {required} is not covered by {CHECKSUM_NAME}")
    for name, digest in listed.items():
        file = path / name
        if not file.is_file():
            raise AdapterVerificationError(f"{path}: {name} is missing")
        if _sha256(file) != digest:
            raise AdapterVerificationError(f"{path}: {name} does not match its checksum")
    return json.loads((path / MANIFEST_NAME).read_text())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe_base(base_model) -> dict:
    """Name the base model; for a local folder also hash its config (weights are too big to hash)."""
    config = Path(base_model) / "config.json"
    return {
        "name_or_path": str(base_model),
        "config_sha256": _sha256(config) if config.is_file() else None,
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
