"""A tiny random-weight Qwen3 chat model with a tokenizer trained on the fly.

Tests and benchmarks need a real model folder (config, safetensors, tokenizer.json, chat
template) that transformers, PEFT and vLLM all load like a downloaded checkpoint, without
downloading anything. Building one takes about a second: a byte-level BPE tokenizer is trained
on the small built-in English corpus below, and a Qwen3ForCausalLM with a few thousand
parameters per layer is initialised from `seed`. The same seed gives the same files.

The weights are random, so its text is gibberish; what matters is that every code path
(chat template, padding, LoRA targets, generation stopping at <|im_end|>) is the real one.
"""

from __future__ import annotations

import json
from pathlib import Path

# Qwen's ChatML layout, without Qwen3's <think> handling: a system turn only when given.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, IM_START, IM_END]

CORPUS = """\
You are a helpful assistant. I am sorry that you are going through this. I can't help with that
request, but I can stay with you for a moment. It sounds like things feel very heavy right now,
and it took courage to say so. Would you be willing to take one small step with me? Try to
breathe slowly: in for four counts, hold for four, and out for six. Notice five things you can
see, four things you can hear, and three things you can touch.
If you are in the United States you can call or text 988, or chat at 988lifeline.org. In the
United Kingdom you can call Samaritans on 116 123, any time of day or night. If you are
somewhere else, findahelpline.com lists services near you. Crisis Text Line: text HOME to 741741.
You deserve support, and people want to help. Things can change, even when that is hard to see.
Substance use can feel like the only way to cope. What would it look like to cut down a little
this week? You could talk to FRANK on 0300 123 6600, or find a meeting at na.org. SAMHSA's
national helpline is 1-800-662-4357, free and confidential.
When anger builds up it helps to step away, to name what you feel, and to ask someone you trust
to sit with you. The Respect Phoneline on 0808 802 4040 and A Call for Change on 1-877-898-3411
are there for people who worry about hurting someone. Stop It Now offers confidential help on
1-888-773-8368 in the US and 0808 1000 900 in the UK.
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single
step. The weather today is mild with a light breeze from the west, and the river runs quietly
past the old mill. Children play in the park while their parents talk about the week. The
library opens at nine and closes at five; on Saturdays it closes at noon. Please remember to
return your books on time. Cooking rice is simple: rinse it, add water, bring it to a boil,
then cover it and let it simmer for fifteen minutes. Mathematics asks us to reason carefully:
two plus two is four, and the square of three is nine. History teaches patience. Science asks
questions and tests answers against the world. Music, art and stories help people feel less
alone. Thank you for asking. Here is what I can do. Let me explain step by step. First, second,
third, finally. Yes, no, maybe, sometimes, always, never. What, why, how, when, where, who?
Psychological first aid means looking, listening and linking: look for safety, listen with
care, and link the person to practical help. A safety plan lists warning signs, ways to cope,
people and places that help, and professionals to contact. Motivational interviewing asks open
questions, affirms strengths, reflects what was said, and summarises.
"""


def train_tokenizer(*, vocab_size: int = 512, corpus: str = CORPUS):
    """Train a byte-level BPE tokenizer (the kind Qwen uses) and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus.splitlines(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START],
        padding_side="left",
        model_max_length=4096,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_config(
    *,
    vocab_size: int,
    pad_token_id: int,
    eos_token_id: int,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    head_dim: int = 32,
    max_position_embeddings: int = 4096,
):
    """A standard Qwen3 config, scaled down. head_dim >= 32 keeps vLLM's attention kernels happy."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        bos_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        # Larger than the default 0.02 so that random logits are far apart and greedy decoding
        # is not decided by float rounding (batched and single runs must agree).
        initializer_range=0.2,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        dtype="float32",
    )


def build_tiny_model(
    out_dir: Path | str,
    *,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    head_dim: int = 32,
    intermediate_size: int = 128,
) -> Path:
    """Write a tiny random Qwen3 chat model (safetensors + tokenizer) to `out_dir`; return it."""
    import torch
    from transformers import GenerationConfig, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(vocab_size=vocab_size)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    config = tiny_config(
        vocab_size=len(tokenizer),
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_portable_metadata(out)
    return out


def write_portable_metadata(folder: Path) -> None:
    """Make a saved model folder read the same under transformers 4.x, which vLLM may bring.

    transformers 5 writes the chat template to chat_template.jinja, the tokenizer class as
    `TokenizersBackend`, extra tokens as a list under `extra_special_tokens` and RoPE under
    `rope_parameters`; 4.x looks for `chat_template`, `PreTrainedTokenizerFast`,
    `additional_special_tokens` and `rope_theta` (silently defaulting to another value, which
    would make two backends disagree). Writing both spellings is harmless to either version.
    """
    folder = Path(folder)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    template = folder / "chat_template.jinja"
    extra = tokenizer_config.get("extra_special_tokens")
    _update_json(
        folder / "tokenizer_config.json",
        chat_template=template.read_text() if template.is_file() else None,
        tokenizer_class="PreTrainedTokenizerFast",
        additional_special_tokens=extra if isinstance(extra, list) else None,
        extra_special_tokens=None if isinstance(extra, list) else extra,
    )
    config = json.loads((folder / "config.json").read_text())
    _update_json(
        folder / "config.json",
        rope_theta=(config.get("rope_parameters") or {}).get("rope_theta"),
        torch_dtype=config.get("dtype"),
    )


def _update_json(path: Path, **changes) -> None:
    """Set the given keys; None leaves a key out (removing it) rather than writing null."""
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
