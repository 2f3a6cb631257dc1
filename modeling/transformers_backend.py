"""Generation with transformers + PEFT: batched, left-padded, on CPU or GPU.

One base model is loaded once; each LoRA adapter named by a condition is loaded onto it with
PEFT (`load_adapter`) and switched to with `set_adapter`; conditions without an adapter run
with the adapters disabled. Prompts are sorted by length before batching so that a batch pads
little, and results are returned in the caller's order.

Traps:
- Padding must be on the left for decoder-only generation, or new tokens follow pad tokens.
- Greedy output is independent of batching (up to float rounding); sampled output is not: the
  seed fixes the whole run, but a prompt's sample depends on which batch it landed in.
- A condition without a system prompt sends no system message, but some chat templates
  (SmolLM2's) then insert their own default system turn; that is the model's behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from modeling.adapters import verify_if_checksummed
from modeling.generation import Condition, Generation, PromptItem, Sampling


class TransformersBackend:
    name = "transformers"

    def __init__(
        self, base_model_path: str | Path, device: str | None = None, dtype: str | None = None, batch_size: int = 16
    ):
        self.base_model_path = str(base_model_path)
        self.device_name = device
        self.dtype_name = dtype
        self.batch_size = batch_size
        self.device = None  # resolved on first use, when torch is imported
        self.dtype = None
        self._model = None
        self._tokenizer = None
        self._eos_ids: list[int] = []
        self._adapters: dict[str, str] = {}  # adapter path -> PEFT adapter name

    def generate(
        self,
        conditions: Sequence[Condition],
        prompts: Sequence[PromptItem],
        sampling: Sampling,
        progress=None,
    ) -> list[Generation]:
        """One Generation per (condition, prompt), conditions outermost, prompts in given order."""
        self._load()
        total, done, results = len(conditions) * len(prompts), 0, []
        for condition in conditions:
            by_prompt: dict[int, Generation] = {}
            with self._adapter_for(condition):
                for number, batch in enumerate(self._batches(condition, prompts)):
                    for index, generation in zip(
                        batch,
                        self._generate_batch(condition, [prompts[i] for i in batch], sampling, number),
                        strict=True,
                    ):
                        by_prompt[index] = generation
                    done += len(batch)
                    if progress is not None:
                        progress(done, total)
            results += [by_prompt[i] for i in range(len(prompts))]
        return results

    # Loading ---------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = torch.device(self.device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.dtype_name:
            self.dtype = getattr(torch, self.dtype_name)
        else:
            # bf16 halves memory and uses tensor cores on GPU; on CPU it is slower than fp32.
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self._tokenizer = AutoTokenizer.from_pretrained(self.base_model_path, padding_side="left")
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        # Safetensors only: a pickled pytorch_model.bin could run code as it loads.
        model = AutoModelForCausalLM.from_pretrained(self.base_model_path, dtype=self.dtype, use_safetensors=True)
        self._model = model.to(self.device).eval()
        self._eos_ids = _eos_ids(self._model.generation_config, self._tokenizer)

    def _adapter_for(self, condition: Condition):
        """Context in which the model answers as `condition`: its adapter active, or none."""
        from peft import PeftModel

        if condition.adapter_path is None:
            return self._model.disable_adapter() if isinstance(self._model, PeftModel) else nullcontext()
        path = str(condition.adapter_path)
        if path not in self._adapters:
            verify_if_checksummed(path)  # a Studio adapter is checked before it is loaded
            name = f"adapter_{len(self._adapters)}"
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(path, adapter_name=name)
            else:
                self._model = PeftModel.from_pretrained(self._model, path, adapter_name=name).eval()
            self._adapters[path] = name
        self._model.set_adapter(self._adapters[path])
        return nullcontext()

    # Generating ------------------------------------------------------------------------------

    def _messages(self, condition: Condition, prompt: PromptItem) -> list[dict]:
        system = [{"role": "system", "content": condition.system_prompt}] if condition.system_prompt else []
        return [*system, {"role": "user", "content": prompt.text}]

    def _render(self, condition: Condition, prompt: PromptItem) -> str:
        return self._tokenizer.apply_chat_template(
            self._messages(condition, prompt), tokenize=False, add_generation_prompt=True
        )

    def _batches(self, condition: Condition, prompts: Sequence[PromptItem]) -> list[list[int]]:
        """Prompt indices in batches of similar length (longest first: memory peaks early)."""
        lengths = [len(self._render(condition, p)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _generate_batch(
        self, condition: Condition, prompts: list[PromptItem], sampling: Sampling, number: int
    ) -> list[Generation]:
        import torch

        texts = [self._render(condition, p) for p in prompts]
        inputs = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        options = {"do_sample": False}
        if sampling.temperature > 0:
            # top_k=0 switches off transformers' default top-k of 50: only top_p applies, as in vLLM.
            options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
            torch.manual_seed(sampling.seed + number)
        started = time.perf_counter()
        with torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=sampling.max_new_tokens,
                pad_token_id=self._tokenizer.pad_token_id,
                eos_token_id=self._eos_ids,
                **options,
            )
        seconds = time.perf_counter() - started
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return [
            self._record(condition, prompt, tokens, prompt_count, sampling, seconds, len(prompts))
            for prompt, tokens, prompt_count in zip(prompts, new_tokens, prompt_tokens, strict=True)
        ]

    def _record(self, condition, prompt, tokens, prompt_count, sampling, seconds, batch_size) -> Generation:
        completion = _until_eos(tokens, self._eos_ids)
        return Generation(
            condition_key=condition.key,
            prompt_id=prompt.id,
            text=self._tokenizer.decode(completion, skip_special_tokens=True),
            adapter_path=condition.adapter_path,
            sampling=sampling.as_dict(),
            prompt_tokens=int(prompt_count),
            completion_tokens=len(completion) + (len(completion) < len(tokens)),  # + the eos token
            seconds=seconds / batch_size,
            backend=self.name,
            extra={
                "batch_size": batch_size,
                "batch_seconds": seconds,
                "device": str(self.device),
                "dtype": str(self.dtype).removeprefix("torch."),
                "finished": len(completion) < len(tokens),
            },
        )


def _eos_ids(generation_config, tokenizer) -> list[int]:
    configured = generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured] if configured is not None else []
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _until_eos(tokens: list[int], eos_ids: list[int]) -> list[int]:
    """The generated tokens before the first end-of-turn token (padding follows it)."""
    for position, token in enumerate(tokens):
        if token in eos_ids:
            return tokens[:position]
    return tokens
