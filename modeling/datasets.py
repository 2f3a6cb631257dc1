"""Chat training data: approved pairs -> chat messages -> token ids with response-only labels.

The Studio trains on approved prompt-response pairs under one condition (no system prompt,
the generic baseline, or the PsychoSafe system prompt). Each pair becomes a chat
(system?, user, assistant) rendered with the base model's own chat template, and the loss is
taken on the assistant's tokens only (labels are -100 elsewhere), as in the authors' code.

The exchange format with the outside world is TRL's chat JSONL, one conversation per line:
    {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

IGNORE_INDEX = -100  # what torch's cross_entropy skips
ROLES = ("system", "user", "assistant")
GENERIC_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class ChatPair:
    """One approved prompt-response pair (a reference refusal) and its risk domain."""

    prompt: str
    answer: str
    domain: str = ""


@dataclass
class TokenizedChat:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def supervised_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass
class TokenizedDataset:
    examples: list[TokenizedChat]
    truncated: int = 0  # examples cut at max_length (their response is partly lost)
    dropped: int = 0  # examples left with no response token after truncation
    lengths: list[int] = field(init=False)

    def __post_init__(self):
        self.lengths = [len(example) for example in self.examples]

    def __len__(self) -> int:
        return len(self.examples)


class ChatFormatError(ValueError):
    """A chat JSONL line that is not a valid conversation; the message names line and field."""


def pair_messages(pair: ChatPair, *, system_prompt: str | None = None) -> list[dict]:
    """The chat for one pair: an optional system turn, the prompt, the reference answer."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [
        *messages,
        {"role": "user", "content": pair.prompt},
        {"role": "assistant", "content": pair.answer},
    ]


def pairs_to_conversations(pairs: Iterable[ChatPair | dict], *, system_prompt: str | None = None) -> list[list[dict]]:
    """Conversations for pairs given as ChatPair or as dicts with prompt/answer(/domain)."""
    return [
        pair_messages(pair if isinstance(pair, ChatPair) else ChatPair(**pair), system_prompt=system_prompt)
        for pair in pairs
    ]


def write_chat_jsonl(path: Path | str, conversations: Iterable[Sequence[dict]]) -> int:
    """Write TRL chat-format JSONL; returns the number of lines written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for messages in conversations:
            handle.write(json.dumps({"messages": list(messages)}, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_chat_jsonl(path: Path | str) -> list[list[dict]]:
    """Read TRL chat-format JSONL, refusing the whole file on the first bad line."""
    conversations = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                conversations.append(_parse_conversation(line, where=f"{path}:{number}"))
    return conversations


def _parse_conversation(line: str, *, where: str) -> list[dict]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ChatFormatError(f"{where}: not JSON ({error.msg})") from None
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ChatFormatError(f"{where}: field 'messages' must be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ChatFormatError(f"{where}: messages[{index}].role must be one of {ROLES}")
        if not isinstance(message.get("content"), str):
            raise ChatFormatError(f"{where}: messages[{index}].content must be a string")
    if messages[-1]["role"] != "assistant":
        raise ChatFormatError(f"{where}: the last message must be the assistant's response")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def snapshot_hash(conversations: Iterable[Sequence[dict]]) -> str:
    """A sha256 naming exactly this training data (order included), for the adapter manifest."""
    digest = hashlib.sha256()
    for messages in conversations:
        digest.update(json.dumps(list(messages), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def tokenize_conversation(messages: Sequence[dict], tokenizer, *, max_length: int) -> TokenizedChat:
    """Token ids of the rendered chat, with labels only on the assistant turns' tokens.

    Each assistant turn's span is found by rendering the chat up to that turn with and without
    the turn; this relies on the template rendering a prefix of a chat as a prefix of the
    whole, which ChatML templates (Qwen, SmolLM2) do. A template that does not is refused.
    The result is right-truncated to `max_length` tokens.
    """
    whole = _label_responses(messages, tokenizer)
    return TokenizedChat(input_ids=whole.input_ids[:max_length], labels=whole.labels[:max_length])


def _label_responses(messages: Sequence[dict], tokenizer) -> TokenizedChat:
    full = _render_ids(tokenizer, messages)
    labels = [IGNORE_INDEX] * len(full)
    for turn, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render_ids(tokenizer, messages[:turn], generation_prompt=True)
        end = len(_render_ids(tokenizer, messages[: turn + 1]))
        if full[: len(prompt)] != prompt:
            raise ValueError("the chat template does not render a chat's prefix as its prefix")
        labels[len(prompt) : end] = full[len(prompt) : end]
    return TokenizedChat(input_ids=full, labels=labels)


def _render_ids(tokenizer, messages, *, generation_prompt: bool = False) -> list[int]:
    if not messages:
        return []
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def tokenize_conversations(conversations: Iterable[Sequence[dict]], tokenizer, *, max_length: int) -> TokenizedDataset:
    """Tokenise every conversation; drop those whose response falls wholly past max_length."""
    kept, truncated, dropped = [], 0, 0
    for messages in conversations:
        whole = _label_responses(messages, tokenizer)
        example = TokenizedChat(whole.input_ids[:max_length], whole.labels[:max_length])
        truncated += len(whole) > max_length
        if example.supervised_tokens == 0:
            dropped += 1
        else:
            kept.append(example)
    return TokenizedDataset(kept, truncated=truncated, dropped=dropped)


def length_grouped_batches(lengths: Sequence[int], *, batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
    """Batches of indices holding examples of similar length, in a seeded random order.

    Padding every example of a batch to its longest one wastes compute in proportion to the
    spread of lengths in the batch; grouping similar lengths (transformers' mega-batch scheme:
    shuffle, sort within chunks of 50 batches) keeps most of the randomness and little of the
    padding. The (seed, epoch) pair fixes the order, so a resumed run sees the same batches.
    """
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = get_length_grouped_indices(list(lengths), batch_size, generator=generator)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def padding_share(batches: Iterable[Sequence[int]], lengths: Sequence[int]) -> float:
    """Fraction of the token slots in padded batches that are padding (0 = none wasted)."""
    slots = real = 0
    for batch in batches:
        slots += max(lengths[i] for i in batch) * len(batch)
        real += sum(lengths[i] for i in batch)
    return (slots - real) / slots if slots else 0.0


def collate(examples: Sequence[TokenizedChat], *, pad_token_id: int):
    """Right-pad a batch into tensors: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(example) for example in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
