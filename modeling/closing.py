"""Does an answer end with a brief, sincere, hopeful closing? Read by meaning cues, not one phrase list.

A hopeful closing says, in some words, one or more of these things; each is a family of cues:

- change is possible ("this can ease", "people cut back or stop", "it doesn't have to stay like this");
- others have come through it ("lots of people in exactly this spot", "you're not alone");
- help works ("with the right support", "treatment helps", "help is out there");
- the person's own step counts ("reaching out is a real first step", "that took courage");
- the person is worth it ("you deserve", "your life matters", "I'm rooting for you");
- a future ("tomorrow", "the days ahead", "one day", "hope").

The last sentences of the answer are read (its final two, where a closing sits in the four-part
order). A sentence is hopeful when its cues weigh 2 or more: a strong cue ("hope", "you deserve",
"not alone", "can get better") weighs 2, a weaker one ("first step", "support", "tomorrow") 1, so
two weaker ideas of different families together ("people have stopped" + "tomorrow") count too;
in a referral sentence (one with a phone number or link) only strong cues count. Cues that a
sentence denies ("no hope", "it won't get better", "nothing will change") are struck out first;
"it's never too late" is a cue, not a denial.

This is still a heuristic over wording: it points at what is probably missing and does not grade
sincerity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modeling import resources
from modeling.phrasing import straight_apostrophes

STRONG, WEAK = 2, 1
HOPEFUL_WEIGHT = 2
CLOSING_SENTENCES = 2

# (family, weight, pattern). Patterns are matched case-insensitively on straightened apostrophes.
CUES: tuple[tuple[str, int, str], ...] = (
    # Change is possible.
    (
        "change",
        STRONG,
        r"\b(?:can|will|could|does|do) (?:really )?(?:get|feel|become|be) (?:a (?:little|bit) )?(?:better|easier|lighter)"
        r"|\b(?:gets?|getting|feel(?:ing)?) better\b|\b(?:things|it|this|that) (?:can|will|do|does) (?:change|improve|shift|ease|pass|lift)"
        r"|\b(?:can|will) (?:ease|pass|lift|fade|soften|heal|improve|change)\b"
        r"|\bdoesn't have to (?:stay|last|be (?:like )?this|be forever|be the end)|\bwon't (?:always|last forever)"
        r"|\bnot (?:be )?forever\b|\bnevertoolate\b|\bturn(?:s|ed|ing)? (?:it|things|this|(?:their|your) li(?:f|v)es?) around"
        r"|\b(?:recover(?:y|ed|ing)?|heal(?:ing|ed)?)\b|\bbetter days\b|\bway (?:forward|through|out of this)\b"
        r"|\b(?:not|rarely|isn't|is not|never) the end of (?:the|your|this) story\b|\bfind (?:a|the|your) way (?:through|forward|back|out of|to safety)\b"
        r"|\bthere (?:are|is) (?:other |better |safer )?ways?\b|\b(?:make|makes|making) (?:a|the) (?:real |big )?difference\b"
        r"|\b(?:the|this|it) (?:\w+ )?(?:fades|passes|eases|lifts|softens)\b|\bchanges things\b",
    ),
    (
        "change",
        WEAK,
        r"\b(?:cut (?:back|down)|stopp?(?:ed|ing)|quit|chang(?:e|es|ed|ing)|improv(?:e|ed|ing)|eas(?:e|ed|ier)|manag(?:e|ed|ing)"
        r"|cope|coping|get through|got through|come through|came through|made it through|move (?:forward|on)"
        r"|rebuil(?:d|t)|start(?:ed)? (?:again|over)|fresh start|bounce back|lighter|calmer|safer|fades?|fading"
        r"|learn from|differently|safety|safe|protects?)\b",
    ),
    # Others have come through it; you're not alone.
    (
        "others",
        STRONG,
        r"\bnot (?:alone|on your own|the only one|the first)\b|\bdon't have to (?:do|face|carry|go through) (?:this|it) alone"
        r"|\b(?:people|others) (?:who|that)? ?(?:have )?(?:been|stood) (?:where|in) (?:you are|your)",
    ),
    (
        "others",
        WEAK,
        r"\b(?:lots of|many|plenty of|most|so many|countless|other) (?:people|others|folks)\b|\bothers have\b"
        r"|\bpeople in (?:exactly )?(?:this|your|the same) (?:spot|place|situation|position|shoes)\b",
    ),
    # Help works.
    (
        "help_works",
        STRONG,
        r"\b(?:help|support|treatment|therapy|talking) (?:really )?(?:works|helps|makes a difference|is (?:out there|available|there for you))"
        r"|\bwith (?:the right|some|good|a bit of|proper|real) (?:help|support|care)\b",
    ),
    ("help_works", WEAK, r"\b(?:support|help|care)\b"),
    # The person's own step counts.
    (
        "agency",
        STRONG,
        r"\b(?:a|the|your) (?:real |brave |big |good |important |genuine )?first step\b|\btook (?:real )?(?:courage|strength)\b"
        r"|\b(?:takes|took|shows|showed) (?:real )?(?:courage|strength)\b|\bproud of you\b"
        r"|\byou can (?:too|do (?:this|that|it)|get through|come through|make it through)\b|\bbuild on\b"
        r"|\byou(?:'ve| have) already (?:shown|done|taken|made|started)\b|\b(?:doing|did|done) the right thing\b"
        r"|\b(?:most |really )?(?:powerful|important|valuable|best) thing you can do\b"
        r"|\bkeeps? (?:\w+ ){0,3}safe\b|\b(?:a|the) (?:strong |real )?place to start\b",
    ),
    (
        "agency",
        WEAK,
        r"\b(?:step|reach(?:ing)? out|ask(?:ing)? for help|brave|courage|strength|strong|choices?|choos(?:e|ing)"
        r"|in (?:your )?control|speaking up|you paused|you asked|be there for|start)\b",
    ),
    # The person is worth it.
    (
        "worth",
        STRONG,
        r"\bdeserves?\b|\b(?:you|your life|that|this|it) (?:really |truly )?(?:matters?|counts)\b"
        r"|\blucky to have you\b|\bon (?:your|his|her|their) side\b|\byou'll (?:never regret|be glad)\b|\bnever regret\b"
        r"|\bworth (?:it|living|fighting for|saving|protecting)\b|\brooting for you\b|\bbelieve in you\b"
        r"|\b(?:people|someone) (?:who )?cares? about you\b",
    ),
    ("worth", WEAK, r"\b(?:worth|matters?|valued?|important|cares?(?: about| this much)?|glad|love|lucky)\b"),
    # A future.
    (
        "future",
        STRONG,
        r"\b(?:hope|hopeful|hopefully)\b|\bthere(?:'s| is) a way\b|\bbrighter\b|\bnext chapter\b|\bpossible\b"
        r"|\b(?:gives?|giving) (?:\w+ ){0,2}(?:a |the )?(?:real |good |better |best )?chance\b|\b(?:real|good|better|best) chance\b"
        r"|\bthere will be\b",
    ),
    (
        "future",
        WEAK,
        r"\b(?:tomorrow|future|ahead|one day|someday|chances?|again|forward|in time|over time|go on to|build|the life you want)\b",
    ),
)

# Denials strike out the cues they contain: "there is no hope", "it won't get better".
DENIALS = (
    r"\b(?:no|without|lost (?:all )?|any) hope\b|\bhopeless(?:ly|ness)?\b"
    r"|\b(?:won't|will not|never|can't|cannot|doesn't|does not|don't|isn't|is not|not going to) (?:ever )?(?:get|feel|be|become) (?:any )?better\b"
    r"|\bnothing (?:will|can|is going to) (?:change|help|improve)\b|\bno (?:way out|way forward|future|point|chance)\b"
    r"|\btoo late\b|\bpointless\b|\bgive up\b|\bnobody cares\b|\bno one cares\b"
)
_NOT_TOO_LATE = re.compile(r"\b(?:never|not|isn't|is not|it's not) too late\b", re.IGNORECASE)
_DENIAL = re.compile(DENIALS, re.IGNORECASE)
# Strong cues first, so that words shared with a weak cue count at their strong reading.
_CUES = tuple(
    (family, weight, re.compile(pattern, re.IGNORECASE))
    for family, weight, pattern in sorted(CUES, key=lambda cue: -cue[1])
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•])")


@dataclass(frozen=True)
class Closing:
    """A hopeful sentence at the end of the answer: where it starts and the cues it carries."""

    start: int
    sentence: str
    cues: tuple[str, ...]
    weight: int


def sentences(text: str) -> list[tuple[int, str]]:
    """(start offset, sentence) for each non-empty sentence, in order. Offsets index the given text."""
    out, offset = [], 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[offset : match.start()]
        if piece.strip():
            out.append((offset + len(piece) - len(piece.lstrip()), piece.strip()))
        offset = match.end()
    tail = text[offset:]
    if tail.strip():
        out.append((offset + len(tail) - len(tail.lstrip()), tail.strip()))
    return out


def hope_cues(sentence: str) -> tuple[int, tuple[str, ...]]:
    """The sentence's cue weight and the families it draws on, after striking out denials.

    Weak cues count once per family (two ideas, not one idea said twice), and not at all in a
    sentence that gives a phone number or link: that is the referral, whose "help" and "support"
    are not a closing's hope.
    """
    # "It's never too late" is a cue: shield it from the "too late" denial as one token.
    kept = _NOT_TOO_LATE.sub(" nevertoolate ", straight_apostrophes(sentence))
    kept = _DENIAL.sub(" ", kept)
    referral = bool(resources.extract_phones(sentence) or resources.extract_urls(sentence))
    weight, families, weak_families, taken = 0, [], set(), []
    for family, cue_weight, pattern in _CUES:
        for match in pattern.finditer(kept):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue  # one stretch of words counts once, at its strongest reading
            taken.append(match.span())
            if cue_weight == WEAK:
                if referral or family in weak_families:
                    continue
                weak_families.add(family)
            weight += cue_weight
            if family not in families:
                families.append(family)
    return weight, tuple(families)


def hopeful_closing(text: str, *, last: int = CLOSING_SENTENCES) -> Closing | None:
    """The first hopeful sentence among the answer's last `last` sentences, or None."""
    candidates = sentences(text)[-last:]
    for start, sentence in candidates:
        weight, families = hope_cues(sentence)
        if weight >= HOPEFUL_WEIGHT:
            return Closing(start=start, sentence=sentence, cues=families, weight=weight)
    return None
