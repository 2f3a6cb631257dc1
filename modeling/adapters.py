"""The adapter folder format: what a finished LoRA adapter holds, how it is published, how it is checked.

A finished adapter is a folder with PEFT's two files, a manifest and a checksum list:

    adapter_model.safetensors   the LoRA weights (only the adapter, never the base model)
    adapter_config.json         PEFT's LoraConfig (rank, alpha, target modules, base model)
    manifest.json               how it was made: base model, data hash, config, metrics, versions
    SHA256SUMS                  `sha256sum` format: one "<hex digest>  <file name>" line per file

It is written to a staging folder beside its destination, flushed to disk and renamed into
place (`publish`), so a folder at the destination is always complete. `verify_adapter` checks
every listed file before an adapter is used; the backends verify any adapter that carries
SHA256SUMS (adapters trained elsewhere have none and load unverified).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

WEIGHTS_NAME = "adapter_model.safetensors"
CONFIG_NAME = "adapter_config.json"
MANIFEST_NAME = "manifest.json"
CHECKSUM_NAME = "SHA256SUMS"
REQUIRED = (WEIGHTS_NAME, CONFIG_NAME, MANIFEST_NAME)

# The largest LoRA rank the Studio trains and serves: the training config and form refuse more,
# and vLLM engines are built for it by default. vLLM accepts 1, 8, 16, 32, 64, 128, 256, 320, 512.
MAX_LORA_RANK = 256
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class AdapterVerificationError(RuntimeError):
    """An adapter folder is incomplete or its files do not match their checksums."""


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    """List every file in `folder` (but the list itself) in SHA256SUMS."""
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name != CHECKSUM_NAME]
    (folder / CHECKSUM_NAME).write_text("".join(f"{file_sha256(p)}  {p.name}\n" for p in files))


def read_checksums(folder: Path | str) -> dict[str, str]:
    """File name -> listed digest; raises AdapterVerificationError when there is no SHA256SUMS."""
    sums = Path(folder) / CHECKSUM_NAME
    if not sums.is_file():
        raise AdapterVerificationError(f"{folder} has no {CHECKSUM_NAME}; it is not a finished adapter")
    listed = {}
    for line in sums.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.strip()] = digest
    return listed


def publish(staging: Path, dest: Path) -> None:
    """Flush the files of `staging` to disk, then rename it to `dest` (same filesystem: atomic).

    Without the flush a crash soon after the rename could leave `dest` with empty files.
    """
    for path in staging.iterdir():
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    staging.rename(dest)
    _fsync_directory(dest.parent)  # makes the rename itself durable


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_adapter(model, out_dir: Path | str, *, manifest: dict) -> Path:
    """Write a PEFT model's adapter, `manifest` and SHA256SUMS to `out_dir`, all or nothing."""
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)  # PEFT: the adapter's weights and config, never the base model
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    write_checksums(staging)
    publish(staging, out_dir)
    return out_dir


def verify_adapter(path: Path | str) -> dict:
    """Check every file listed in SHA256SUMS; return the manifest, or raise naming the problem."""
    path = Path(path)
    listed = read_checksums(path)
    for required in REQUIRED:
        if required not in listed:
            raise AdapterVerificationError(f"{path}: {required} is not covered by {CHECKSUM_NAME}")
    for name, digest in listed.items():
        file = path / name
        if not file.is_file():
            raise AdapterVerificationError(f"{path}: {name} is missing")
        if file_sha256(file) != digest:
            raise AdapterVerificationError(f"{path}: {name} does not match its checksum")
    return json.loads((path / MANIFEST_NAME).read_text())


def verify_if_checksummed(path: Path | str) -> dict | None:
    """Verify a Studio adapter (it has SHA256SUMS) and return its manifest; None for any other."""
    return verify_adapter(path) if (Path(path) / CHECKSUM_NAME).is_file() else None


def weights_sha256(path: Path | str) -> str:
    """The adapter weights' checksum as listed in SHA256SUMS (verify the folder first to trust it)."""
    listed = read_checksums(path)
    if WEIGHTS_NAME not in listed:
        raise AdapterVerificationError(f"{path}: {WEIGHTS_NAME} is not in {CHECKSUM_NAME}")
    return listed[WEIGHTS_NAME]


def adapter_rank(path: Path | str) -> int:
    """The LoRA rank in an adapter's PEFT config (the largest one when ranks vary by module)."""
    config = json.loads((Path(path) / CONFIG_NAME).read_text())
    return max([config["r"], *(config.get("rank_pattern") or {}).values()])


def vllm_lora_rank(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that covers `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest max_lora_rank ({VLLM_LORA_RANKS[-1]})")
