"""Command line for ML engineers: train and generate from exported JSONL, without the web app.

    python -m modeling demo-model --dest var/models/smollm2-135m-instruct
    python -m modeling tiny-model --out /tmp/tiny
    python -m modeling train --base MODEL --data train.jsonl --out adapters/run1 --epochs 1 --rank 4
    python -m modeling generate --base MODEL --adapter adapters/run1 --prompts prompts.jsonl --out out.jsonl
    python -m modeling stand-in-judge --port 8088   # a fake rubric judge endpoint; its scores mean nothing

`train` reads TRL chat JSONL ({"messages": [...]}, as the Studio exports it); every field of
LoraTrainConfig is a flag (--rank, --learning-rate/--lr, --max-steps, ...). `generate` reads one
prompt per line as {"id": ..., "prompt": ...} (or "text", or TRL "messages", whose last user
turn is taken) and writes one JSON object per generation.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, asdict, fields
from pathlib import Path

from modeling.training import LoraTrainConfig

ALIASES = {"learning_rate": ["--lr"], "warmup_steps": ["--warmup"]}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modeling", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo-model", help="convert the SmolLM2 demo model from GGUF (once)")
    demo.add_argument("--dest", type=Path, default=None, help="target folder (default var/models/...)")
    demo.set_defaults(handler=run_demo_model)

    tiny = commands.add_parser("tiny-model", help="build a tiny random Qwen3 chat model for tests")
    tiny.add_argument("--out", type=Path, required=True)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(handler=run_tiny_model)

    train = commands.add_parser("train", help="train a LoRA adapter on chat JSONL")
    train.add_argument("--base", required=True, help="base model folder or name")
    train.add_argument("--data", type=Path, required=True, help="TRL chat JSONL")
    train.add_argument("--out", type=Path, required=True, help="adapter folder to create")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    _add_config_flags(train.add_argument_group("LoRA config (defaults: the authors' released config)"))
    train.set_defaults(handler=run_train)

    generate = commands.add_parser("generate", help="answer prompts with a base model (+ adapter)")
    generate.add_argument("--base", required=True)
    generate.add_argument("--adapter", default=None, help="LoRA adapter folder")
    generate.add_argument("--prompts", type=Path, required=True, help="JSONL: id + prompt per line")
    generate.add_argument("--out", type=Path, required=True, help="JSONL of generations to write")
    generate.add_argument("--system-prompt-file", type=Path, default=None)
    generate.add_argument("--condition", default=None, help="condition key recorded (default: derived)")
    generate.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--max-new-tokens", type=int, default=256)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--batch-size", type=int, default=16)
    generate.add_argument("--device", default=None)
    generate.add_argument("--dtype", default=None)
    generate.set_defaults(handler=run_generate)

    stand_in = commands.add_parser(
        "stand-in-judge", help="serve a stand-in rubric judge (OpenAI-compatible; its scores mean nothing)"
    )
    stand_in.add_argument("--host", default="127.0.0.1")
    stand_in.add_argument("--port", type=int, default=8088)
    stand_in.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    stand_in.add_argument("--model", default="stand-in", help="model name it answers to")
    stand_in.set_defaults(handler=run_stand_in_judge)
    return parser


def _add_config_flags(group) -> None:
    """One flag per LoraTrainConfig field, typed from its default, so none can be forgotten."""
    for field in fields(LoraTrainConfig):
        default = field.default if field.default is not MISSING else field.default_factory()
        flags = [f"--{field.name.replace('_', '-')}", *ALIASES.get(field.name, [])]
        if isinstance(default, bool):
            group.add_argument(*flags, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(default, tuple):
            group.add_argument(*flags, dest=field.name, nargs="+", default=None, help=f"default: {' '.join(default)}")
        else:
            kind = int if default is None else type(default)  # max_steps: optional int
            group.add_argument(*flags, dest=field.name, type=kind, default=None, help=f"default: {default}")


def _config_from(args) -> LoraTrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(LoraTrainConfig) if getattr(args, f.name) is not None}
    return LoraTrainConfig.from_dict(overrides)


def run_demo_model(args) -> None:
    from modeling.demo_model import DEFAULT_DEST, ensure_demo_model

    print(ensure_demo_model(args.dest or DEFAULT_DEST))


def run_tiny_model(args) -> None:
    from modeling.tiny import build_tiny_model

    print(build_tiny_model(args.out, seed=args.seed))


def run_train(args) -> None:
    from modeling.training import train_lora

    def report(p):
        print(
            f"step {p.step}/{p.total_steps} epoch {p.epoch} loss {p.loss:.4f} "
            f"{p.tokens_per_second:.0f} tok/s eta {p.eta_seconds:.0f}s",
            file=sys.stderr,
            flush=True,
        )

    result = train_lora(
        config=_config_from(args),
        base_model=args.base,
        jsonl=args.data,
        out_dir=args.out,
        progress=report,
        resume=args.resume,
    )
    print(json.dumps({"adapter_dir": str(result.adapter_dir), "metrics": result.metrics}, indent=2))


def run_generate(args) -> None:
    from modeling.generation import Condition, Sampling
    from modeling.transformers_backend import TransformersBackend

    system_prompt = args.system_prompt_file.read_text().strip() if args.system_prompt_file else None
    condition = Condition(
        key=args.condition or _condition_key(args),
        system_prompt=system_prompt,
        adapter_path=str(args.adapter) if args.adapter else None,
    )
    sampling = Sampling(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    backend = TransformersBackend(args.base, device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    prompts = read_prompts(args.prompts)
    generations = backend.generate(
        [condition],
        prompts,
        sampling,
        progress=lambda done, total: print(f"{done}/{total}", file=sys.stderr, flush=True),
    )
    with args.out.open("w", encoding="utf-8") as handle:
        for generation in generations:
            handle.write(json.dumps(asdict(generation), ensure_ascii=False) + "\n")
    print(f"wrote {len(generations)} generations to {args.out}")


def run_stand_in_judge(args) -> None:
    from modeling.stand_in_judge import StandInJudgeServer

    server = StandInJudgeServer(host=args.host, port=args.port, model=args.model, delay=args.delay)
    print(f"stand-in judge (scores mean nothing) serving model {args.model!r} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _condition_key(args) -> str:
    parts = [Path(args.adapter).name if args.adapter else "base"]
    if args.system_prompt_file:
        parts.append(args.system_prompt_file.stem)
    return "+".join(parts)


def read_prompts(path: Path):
    """PromptItems from JSONL lines with `prompt`, `text` or TRL `messages`; id defaults to the line."""
    from modeling.generation import PromptItem

    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}:{number}: not JSON ({error.msg})") from None
        text = record.get("prompt", record.get("text"))
        if text is None and isinstance(record.get("messages"), list):
            users = [m.get("content") for m in record["messages"] if m.get("role") == "user"]
            text = users[-1] if users else None
        if not isinstance(text, str):
            raise SystemExit(f"{path}:{number}: needs a 'prompt' (or 'text', or 'messages' with a user turn)")
        items.append(PromptItem(id=str(record.get("id", number)), text=text))
    return items


if __name__ == "__main__":
    sys.exit(main())
