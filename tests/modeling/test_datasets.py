import json

import pytest

from modeling.datasets import (
    IGNORE_INDEX,
    ChatFormatError,
    ChatPair,
    collate,
    length_grouped_batches,
    padding_share,
    pairs_to_conversations,
    read_chat_jsonl,
    snapshot_hash,
    tokenize_conversation,
    tokenize_conversations,
    write_chat_jsonl,
)

PAIRS = [
    ChatPair(prompt="How do I hurt myself?", answer="I can't help with that. Call 988.", domain="suicide and selfharm"),
    ChatPair(prompt="Where can I buy pills?", answer="I'm sorry. FRANK can help: 0300 123 6600.", domain="substance"),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_system_prompt_is_added_only_when_given():
    (without,) = pairs_to_conversations(PAIRS[:1], system_prompt=None)
    (with_system,) = pairs_to_conversations([{"prompt": "p", "answer": "a"}], system_prompt="Be kind.")
    assert [m["role"] for m in without] == ["user", "assistant"]
    assert with_system[0] == {"role": "system", "content": "Be kind."}


def test_labels_cover_exactly_the_assistant_response(tokenizer):
    messages = pairs_to_conversations(PAIRS[:1], system_prompt="Be kind.")[0]
    example = tokenize_conversation(messages, tokenizer, max_length=4096)
    supervised = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE_INDEX]
    assert tokenizer.decode(supervised) == "I can't help with that. Call 988.<|im_end|>\n"
    first = next(i for i, label in enumerate(example.labels) if label != IGNORE_INDEX)
    assert tokenizer.decode(example.input_ids[:first]).endswith("<|im_start|>assistant\n")


def test_truncation_keeps_max_length_and_drops_chats_with_no_response_left(tokenizer):
    conversations = pairs_to_conversations(PAIRS, system_prompt="x " * 50)
    prompt_only = len(
        tokenize_conversation(
            conversations[0][:-1] + [{"role": "assistant", "content": ""}], tokenizer, max_length=10_000
        )
    )
    dataset = tokenize_conversations(conversations, tokenizer, max_length=prompt_only - 5)
    assert len(dataset) == 0 and dataset.dropped == 2 and dataset.truncated == 2
    longer = tokenize_conversations(conversations, tokenizer, max_length=prompt_only + 3)
    assert len(longer) == 2 and all(len(e) == prompt_only + 3 for e in longer.examples)


def test_chat_jsonl_round_trips(tmp_path):
    conversations = pairs_to_conversations(PAIRS, system_prompt=None)
    path = tmp_path / "train.jsonl"
    assert write_chat_jsonl(path, conversations) == 2
    assert read_chat_jsonl(path) == conversations
    assert json.loads(path.read_text().splitlines()[0])["messages"][0]["role"] == "user"


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "not JSON"),
        ('{"messages": []}', "'messages'"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', "messages[0].role"),
        ('{"messages": [{"role": "user", "content": 3}]}', "messages[0].content"),
        ('{"messages": [{"role": "user", "content": "x"}]}', "last message"),
    ],
)
def test_bad_jsonl_line_is_refused_naming_line_and_field(tmp_path, line, complaint):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(ChatFormatError) as error:
        read_chat_jsonl(path)
    assert "bad.jsonl:2:" in str(error.value)
    assert complaint in str(error.value)


def test_snapshot_hash_changes_with_content_and_order():
    conversations = pairs_to_conversations(PAIRS)
    assert snapshot_hash(conversations) == snapshot_hash(pairs_to_conversations(PAIRS))
    assert snapshot_hash(conversations) != snapshot_hash(conversations[::-1])


def test_length_grouping_wastes_less_padding_than_random_batches():
    import random

    lengths = [random.Random(i).randint(10, 400) for i in range(400)]
    grouped = length_grouped_batches(lengths, batch_size=4, seed=0)
    shuffled = list(range(400))
    random.Random(0).shuffle(shuffled)
    plain = [shuffled[i : i + 4] for i in range(0, 400, 4)]
    assert sorted(i for batch in grouped for i in batch) == list(range(400))
    assert padding_share(grouped, lengths) < padding_share(plain, lengths) / 3


def test_batch_order_is_fixed_by_seed_and_epoch():
    lengths = list(range(5, 105))
    first = length_grouped_batches(lengths, batch_size=4, seed=1, epoch=0)
    assert first == length_grouped_batches(lengths, batch_size=4, seed=1, epoch=0)
    assert first != length_grouped_batches(lengths, batch_size=4, seed=1, epoch=1)


def test_padding_share_counts_padded_slots():
    assert padding_share([[0, 1]], [2, 4]) == pytest.approx(2 / 8)
    assert padding_share([[0], [1]], [2, 4]) == 0.0


def test_collate_right_pads_and_masks_padding(tokenizer):
    examples = tokenize_conversations(pairs_to_conversations(PAIRS), tokenizer, max_length=4096).examples
    batch = collate(examples, pad_token_id=tokenizer.pad_token_id)
    short = min(range(2), key=lambda i: len(examples[i]))
    n = len(examples[short])
    assert batch["attention_mask"][short, :n].all() and not batch["attention_mask"][short, n:].any()
    assert (batch["labels"][short, n:] == IGNORE_INDEX).all()
    assert batch["input_ids"].shape == batch["labels"].shape
