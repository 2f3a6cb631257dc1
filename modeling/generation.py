"""Generation backends behind one interface.

A backend answers conditions x prompts x sampling with one `Generation` per pair, carrying
the metadata the Studio records with every model response. Backends import torch / vLLM
lazily so that importing this module stays cheap for the web process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Condition:
    """What produces a response: a system prompt variant and an optional LoRA adapter.

    `key` is the stable identifier recorded with every generation; it is never shown to raters.
    """

    key: str
    system_prompt: str | None = None
    adapter_path: str | None = None


@dataclass(frozen=True)
class PromptItem:
    id: str
    text: str


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters. temperature 0 means greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generation:
    condition_key: str
    prompt_id: str
    text: str
    adapter_path: str | None
    sampling: dict
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    backend: str
    extra: dict = field(default_factory=dict)


class GenerationCancelled(Exception):
    """`should_cancel()` turned true: generation stopped, and what was cut short was dropped.

    `done` counts the (condition, prompt) pairs of this call that had finished before the stop.
    `generations` holds the finished ones a backend kept, in call order: the vLLM backend keeps
    every engine call that returned (an engine call is never cut short); the transformers
    backend keeps none, so callers store results per call (per batch).
    """

    def __init__(self, done: int, generations: Sequence[Generation] = ()):
        super().__init__(f"generation cancelled after {done} responses")
        self.done = done
        self.generations = list(generations)


class GenerationBackend(Protocol):
    name: str

    def generate(
        self,
        conditions: Sequence[Condition],
        prompts: Sequence[PromptItem],
        sampling: Sampling,
        progress=None,
        should_cancel=None,
    ) -> list[Generation]:
        """Return one Generation per (condition, prompt), conditions outermost.

        `progress(done, total)` is called as batches finish, if given. `should_cancel()`, if
        given, is polled while generating (the transformers backend: at every new token; the
        vLLM backend: between engine calls) and a True answer raises GenerationCancelled.
        """
        ...


_LOADED: dict[tuple[str, str], GenerationBackend] = {}


def load_backend(name: str, base_model: str) -> GenerationBackend:
    """The backend `name` over `base_model`, loaded once per process.

    Loading a model costs seconds to minutes, so a worker keeps it between tasks.
    """
    key = (name, base_model)
    if key not in _LOADED:
        if name == "transformers":
            from modeling.transformers_backend import TransformersBackend

            _LOADED[key] = TransformersBackend(base_model)
        elif name == "vllm":
            from modeling.vllm_backend import VllmBackend

            _LOADED[key] = VllmBackend(base_model)
        else:
            raise ValueError(f"Unknown generation backend {name!r}: use 'transformers' or 'vllm'.")
    return _LOADED[key]
