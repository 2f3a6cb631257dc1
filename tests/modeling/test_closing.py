"""The hopeful-closing detector on labelled closings written for these tests (not from any benchmark)."""

import pytest

from modeling.closing import hope_cues, hopeful_closing, sentences

# Each is an answer's last sentence; a clinician would call every one of them a hopeful closing.
HOPEFUL = [
    "Lots of people in exactly this spot have cut back or stopped with the right support, and reaching out is a real first step.",
    "You deserve support, and this feeling can ease with help.",
    "Many people who have felt this way have found their way through, and you can too.",
    "It's never too late to change direction, and talking to someone today is a good start.",
    "You're not alone in this.",
    "I'm rooting for you.",
    "This pain doesn't have to stay this heavy forever.",
    "Reaching out took real courage, and it can be the start of something better.",
    "Things can get better, even if it doesn't feel that way tonight.",
    "With some support, a lot of people find the urge fades and life feels lighter again.",
    "Your life matters, and there are people who want to help you through this.",
    "Recovery is possible, one day at a time.",
    "Help really works, and plenty of others have walked this road before you.",
    "I hope tomorrow feels a little lighter.",
    "Treatment helps, and asking for it shows real strength.",
    "Many others have turned things around after a night like this one.",
    "You can get through this week too, one day at a time.",
    "Choosing to walk away tonight gives you both a real chance.",
    "You're doing the right thing by asking first.",
    "Exam results feel final, but they are rarely the end of the story.",
    "Your brother is lucky to have you on his side.",
    "The anger fades, and you'll be glad you didn't act on it.",
]

# Last sentences that are not a hopeful closing: a helpline line, a plain refusal, a self-help
# instruction, a denial of hope, a statement of how bad things are.
NOT_HOPEFUL = [
    "Call 988 now.",
    "I can't help with that request.",
    "Please put the pills in another room tonight.",
    "There is no hope in going down this road.",
    "It won't get better if you keep drinking like this.",
    "Nothing will change unless you stop.",
    "You can reach Samaritans on 116 123 at any hour.",
    "Text HOME to 741741.",
    "Keep the knife out of the house.",
    "I won't give details about doses.",
    "This is a serious situation and you may feel alone.",
    "It is too late to take back what happened.",
    "For other local support services, findahelpline.com can help.",
    "The helpline, 1-800-662-4357, can connect you with treatment, including medication that eases withdrawal.",
    "Put some distance between you and the bottle and help yourself to water.",
]


@pytest.mark.parametrize("closing", HOPEFUL)
def test_hopeful_closings_are_found_by_their_meaning(closing):
    answer = "I hear how hard this is. I can't help with that.\n\nCall 988 any time.\n\n" + closing
    found = hopeful_closing(answer)
    assert found is not None, f"missed: {closing} (cues {hope_cues(closing)})"
    assert found.sentence == closing


@pytest.mark.parametrize("closing", NOT_HOPEFUL)
def test_sentences_without_hope_are_not_a_closing(closing):
    weight, families = hope_cues(closing)
    assert weight < 2, f"read as hopeful: {closing} ({families})"
    answer = "I can't help with that.\n\nPut some distance between you and the pills.\n\n" + closing
    assert hopeful_closing(answer) is None


def test_a_hopeful_sentence_at_the_start_is_no_closing():
    answer = (
        "You deserve support and I'm glad you wrote. I can't help with that.\n\n"
        "Put the bottle away for tonight.\n\nCall 988 or text 741741."
    )
    assert hopeful_closing(answer) is None


def test_the_closing_may_be_followed_by_one_more_sentence():
    answer = "I can't help with that.\n\nThings can get better with support. Call 988 if you need to talk."
    found = hopeful_closing(answer)
    assert found is not None and found.sentence == "Things can get better with support."
    assert answer[found.start :].startswith("Things can get better")


def test_a_denial_strikes_out_only_its_own_words():
    assert hope_cues("There is no hope here.")[0] == 0
    assert hope_cues("It's not hopeless: you deserve help.")[0] >= 2


def test_curly_apostrophes_read_like_straight_ones():
    assert hopeful_closing("I can\u2019t help.\n\nYou\u2019re not alone in this.") is not None


def test_sentences_keep_offsets_into_the_text_and_do_not_split_urls_or_numbers():
    text = "Visit 988lifeline.org or call 1-800-662-4357. You matter!  Really."
    pieces = sentences(text)
    assert [s for _, s in pieces] == ["Visit 988lifeline.org or call 1-800-662-4357.", "You matter!", "Really."]
    assert all(text[start : start + len(s)] == s for start, s in pieces)


def test_every_demo_answer_to_a_risky_prompt_ends_with_a_closing_it_finds():
    """The demo corpus's reference answers (written for the studio's demo) all close with hope."""
    import json
    from pathlib import Path

    rows = json.loads((Path(__file__).resolve().parents[2] / "annotation/seed/demo_pairs.json").read_text())
    risky = [row for row in rows if row.get("should_refuse", True)]
    missed = [sentences(row["answer"])[-1][1] for row in risky if hopeful_closing(row["answer"]) is None]
    assert len(risky) > 50 and missed == []
