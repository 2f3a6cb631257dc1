"""Peak memory of a demo-model LoRA run with the default settings, on the data the Studio trains on.

Each run is a fresh process (its peak resident memory is read with wait4, so nothing else in
this process counts) training SmolLM2-135M-Instruct with the default LoraTrainConfig for a
few steps on the demo corpus (annotation/seed/demo_pairs.json) under the PsychoSafe system
prompt: 90 chats of 1,300-1,500 tokens, 4 to a batch.

    python bench/bench_memory.py                  # the default settings, 3 steps; an idle worker
    python bench/bench_memory.py --compare        # also the behaviour before the fix, and each fix

It also starts a real Celery worker (the embedded broker and a scratch SQLite database under a
temporary var folder), lets it run its start-up task so its pool process has been replaced once,
and prints the resident memory of the idle worker (the pool's parent and its child together).

--compare first runs the training loop as it was before the memory fix (no gradient
checkpointing, the model's own loss over the full vocabulary with the padding mask, glibc's
default allocator settings; it peaks near 20 GB, so keep that much free), then adds the fixes
one at a time. It prints peak RSS and seconds per step for each, and the before/after ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Cumulative: each variant adds one fix to the one before; the last is the code as it is.
VARIANTS = {
    "before": "no checkpointing, full-vocabulary loss, glibc defaults",
    "+response-loss": "loss on response positions only, causal kernel without padding mask",
    "+checkpointing": "gradient checkpointing",
    "after": "allocator settings (the default settings as they are)",
}


def demo_conversations() -> list[list[dict]]:
    from modeling.datasets import pairs_to_conversations

    seed = ROOT / "annotation" / "seed"
    pairs = json.loads((seed / "demo_pairs.json").read_text())
    prompts = {row["key"]: row["text"] for row in json.loads((seed / "system_prompts.json").read_text())}
    return pairs_to_conversations(
        [{"prompt": p["prompt"], "answer": p["answer"]} for p in pairs], system_prompt=prompts["psychosafe"]
    )


def child(variant: str, steps: int, model: Path) -> None:
    """Train in this process as `variant` and print its timing as JSON (the parent reads the RSS)."""
    from modeling import training

    fixes = list(VARIANTS).index(variant)
    if fixes < 1:
        training.response_loss = lambda model, batch: model(**batch, use_cache=True).loss  # as the old loop ran
    if fixes < 3:
        training._return_freed_memory_to_the_os = lambda: None
    config = training.LoraTrainConfig(max_steps=steps, gradient_checkpointing=fixes >= 2)
    with tempfile.TemporaryDirectory() as tmp:
        result = training.train_lora(
            config=config, base_model=model, conversations=demo_conversations(), out_dir=Path(tmp) / "adapter"
        )
    metrics = result.metrics
    print(json.dumps({"steps": metrics["steps"], "seconds_per_step": metrics["seconds"] / metrics["steps"]}))


def measure(variant: str, steps: int, model: Path) -> dict:
    """Run `child` in a fresh process; its figures plus peak RSS (bytes) from the kernel."""
    command = [sys.executable, __file__, "--child", variant, "--steps", str(steps), "--model", str(model)]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # not wait(): this also gives the child's peak RSS
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"{variant}: the training process failed:\n{log.read()[-3000:]}")
    return {**json.loads(output), "peak_rss": usage.ru_maxrss * 1024, "wall": time.perf_counter() - started}


def idle_worker_rss() -> int:
    """Resident bytes of an idle `celery worker` (parent + pool child) after its first task."""
    import psutil

    with tempfile.TemporaryDirectory() as var:
        # The embedded defaults (file-system broker, SQLite) inside the scratch var folder.
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env.update(PSYCHOSAFE_VAR_DIR=var, PSYCHOSAFE_QUEUE_PREFIX="bench-")
        env.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        command = [sys.executable, "-m", "celery", "-A", "psychosafe_site", "worker", "--concurrency", "1"]
        command += ["-Q", "bench-default,bench-gpu", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        with tempfile.TemporaryFile("w+") as log:
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 120
                while "recover_stale_runs" not in _read(log) or "succeeded" not in _read(log):
                    if time.monotonic() > deadline or worker.poll() is not None:
                        raise SystemExit(f"the worker did not run its start-up task:\n{_read(log)[-3000:]}")
                    time.sleep(0.5)
                time.sleep(3)  # the pool replaces the child that ran it
                tree = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
                return sum(p.memory_info().rss for p in tree)
            finally:
                worker.terminate()
                worker.wait(timeout=30)


def _read(log) -> str:
    log.seek(0)
    return log.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also run the old behaviour and each fix")
    parser.add_argument("--model", type=Path, default=None, help="default: the converted demo model")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from modeling.demo_model import DEFAULT_DEST, is_complete

    model = args.model or DEFAULT_DEST
    if args.child:
        return child(args.child, args.steps, model)
    if not is_complete(model) and args.model is None:
        raise SystemExit(f"{model} is not converted yet: run `python -m modeling demo-model`")
    print(f"model {model}  steps {args.steps}  default LoraTrainConfig  demo corpus + PsychoSafe prompt")
    results = {}
    for variant in VARIANTS if args.compare else ["after"]:
        results[variant] = run = measure(variant, args.steps, model)
        print(
            f"{variant:15s} peak RSS {run['peak_rss'] / 2**30:6.2f} GiB  {run['seconds_per_step']:6.1f} s/step"
            f"  ({VARIANTS[variant]})",
            flush=True,
        )
    print(f"{'':15s} budget 3 GiB: {'met' if results['after']['peak_rss'] < 3 * 2**30 else 'NOT met'}")
    idle = idle_worker_rss()
    print(
        f"idle worker     RSS {idle / 2**30:6.2f} GiB  (parent + fresh pool child; budget 1 GiB: "
        f"{'met' if idle < 2**30 else 'NOT met'})"
    )
    if args.compare:
        before, after = results["before"], results["after"]
        print(
            f"before/after: peak RSS {before['peak_rss'] / after['peak_rss']:.1f}x lower, "
            f"s/step {before['seconds_per_step'] / after['seconds_per_step']:.2f}x faster"
        )


if __name__ == "__main__":
    main()
