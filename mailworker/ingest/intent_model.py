"""A second reader of intent, learned from the labelled member mail.

The sentence forms in ``intent.py`` are what a person would point at, but each one was
written after a miss, and on mail from writers it had never seen they were right about
nine times in ten. This reader has no patterns: it is a naive Bayes model over the
member's own words (characters in runs of one to three, whole words, word pairs, the
subject's words), counted from the hand-labelled corpus in ``tests/data/member_mail``.
``classify`` weighs the two readings; the learned one never earns an hour alone (a credit
still needs a sentence the forms read as a report or an idea).

The counts ship as ``intent_model.json`` beside this file. Rebuild it after the corpus
changes with ``scripts/train-intent-model``; a test fails while the shipped counts differ
from the corpus.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from array import array
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Iterable

from ..errors import MailworkerError

MODEL_PATH = Path(__file__).with_name("intent_model.json")
FORMAT = 1
# The kinds the model learns: what a member's own words can say. Auto-replies, bounces and
# subject tags are told by headers and the subject, before any reading.
LEARNED_KINDS = ("review", "proposal", "question", "other", "resignation", "rsvp")
# Add-alpha smoothing: small, because a word seen under one kind only is strong evidence.
ALPHA = 0.2
TEXT_CHARS = 600           # as much as the sentence forms read (classify.INTENT_CHARS)

_WORD = re.compile(r"[가-힣a-z0-9]+")
_SPACE = re.compile(r"\s+")


class ModelError(MailworkerError):
    """The shipped model file is missing or not one this code can read: an installation
    fault, reported before any mail is read (no mail is quarantined for it)."""


def features(own_subject: str, text: str) -> set[str]:
    """What the model looks at in one mail. ``text`` is the member's own casefolded words
    (no quoted notice, no signature); ``own_subject`` is empty for a reply."""
    body = text[:TEXT_CHARS]
    if not unicodedata.is_normalized("NFKC", body):
        body = unicodedata.normalize("NFKC", body)
    body = _SPACE.sub(" ", body.casefold())
    found = set(body)
    found.update([body[i:i + 2] for i in range(len(body) - 1)])
    found.update([body[i:i + 3] for i in range(len(body) - 2)])
    found.discard(" ")
    words = _WORD.findall(body)
    found.update(["W:" + w for w in words])
    found.update([f"B:{a}_{b}" for a, b in zip(words, words[1:])])
    if own_subject:
        subject = unicodedata.normalize("NFKC", own_subject).casefold()  # short: always
        found.update(["S:" + w for w in _WORD.findall(subject)])
        found.update(["S2:" + subject[i:i + 2] for i in range(len(subject) - 1)])
    if not body.strip():
        found.add("EMPTY")
    return found


def train(examples: Iterable[tuple[str, str, str]]) -> dict:
    """Counts from (kind, own_subject, text) examples, as the JSON the model loads.
    Examples of kinds the model does not learn are left out."""
    index = {kind: i for i, kind in enumerate(LEARNED_KINDS)}
    documents = [0] * len(LEARNED_KINDS)
    counts: dict[str, list[int]] = {}
    for kind, own_subject, text in examples:
        if kind not in index:
            continue
        k = index[kind]
        documents[k] += 1
        for feature in features(own_subject, text):
            counts.setdefault(feature, [0] * len(LEARNED_KINDS))[k] += 1
    return {"format": FORMAT, "alpha": ALPHA, "kinds": list(LEARNED_KINDS),
            "documents": documents, "features": dict(sorted(counts.items()))}


def dumps(model: dict) -> str:
    """The model file's text: one feature a line, so a retrain shows as a readable diff."""
    head = {k: v for k, v in model.items() if k != "features"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "features": {']
    items = list(model["features"].items())
    for n, (feature, row) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        lines.append(f"{json.dumps(feature, ensure_ascii=False)}: {json.dumps(row)}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Reading:
    kind: str
    runner_up: str
    margin: float          # log-odds of kind over runner_up
    cues: tuple[str, ...]  # the member's words that favoured kind most
    scores: tuple[float, ...]   # log-probability per LEARNED_KINDS, up to a constant

    def lead(self, kinds) -> float:
        """Log-odds of the likeliest of ``kinds`` over the likeliest of the rest: how far the
        reading leans towards, say, any credit kind."""
        inside = max(s for k, s in zip(LEARNED_KINDS, self.scores) if k in kinds)
        outside = max(s for k, s in zip(LEARNED_KINDS, self.scores) if k not in kinds)
        return inside - outside

    @property
    def says(self) -> str:
        words = ", ".join(self.cues) if self.cues else "no telling words"
        return (f"learned reading: {self.kind} over {self.runner_up} "
                f"(log-odds {self.margin:.1f}; {words})")


class IntentModel:
    def __init__(self, model: dict):
        if model.get("format") != FORMAT or tuple(model.get("kinds", ())) != LEARNED_KINDS:
            raise ModelError(f"intent model format {model.get('format')!r} with kinds "
                             f"{model.get('kinds')!r}; this code reads format {FORMAT} with "
                             f"{list(LEARNED_KINDS)}: rebuild it with scripts/train-intent-model")
        alpha = float(model["alpha"])
        rows = model["features"]
        kinds = len(LEARNED_KINDS)
        totals = [0] * kinds
        for row in rows.values():
            for k in range(kinds):
                totals[k] += row[k]
        size = len(rows)
        denominators = [math.log(t + alpha * size) for t in totals]
        all_docs = sum(model["documents"])
        self.priors = [math.log(d / all_docs) if d else -math.inf for d in model["documents"]]
        # A flat array of log-probabilities per kind, indexed by the feature's number: a
        # few MB, not a dict of tuples (the analysis process forks with it), and summed
        # with C-level look-ups.
        self._index = {feature: n for n, feature in enumerate(rows)}
        self._names: list[str] | None = None     # the features by number, for reasons
        self._logp = [array("d", (math.log(row[k] + alpha) - denominators[k]
                                  for row in rows.values())) for k in range(kinds)]

    @classmethod
    def load(cls, path: Path | None = None) -> "IntentModel":
        path = MODEL_PATH if path is None else path
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except OSError as e:
            raise ModelError(f"cannot read the intent model {path}: {e.strerror}; reinstall "
                             "mailworker or rebuild it with scripts/train-intent-model") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"intent model {path} is damaged ({e}); rebuild it with "
                             "scripts/train-intent-model") from None

    def read(self, own_subject: str, text: str) -> Reading:
        index = self._index
        seen = [n for n in map(index.get, features(own_subject, text)) if n is not None]
        # itemgetter of one index gives a number, not a tuple
        pick = itemgetter(*seen) if len(seen) > 1 else (lambda logp: tuple(logp[n] for n in seen))
        scores = [prior + sum(pick(logp)) for prior, logp in zip(self.priors, self._logp)]
        order = sorted(range(len(LEARNED_KINDS)), key=scores.__getitem__, reverse=True)
        best, second = order[0], order[1]
        return Reading(LEARNED_KINDS[best], LEARNED_KINDS[second],
                       scores[best] - scores[second], self._cues(seen, best, second),
                       tuple(scores))

    def _cues(self, seen: list[int], best: int, second: int) -> tuple[str, ...]:
        """The whole words (and the subject's) that favour the answer most: what a person
        would underline."""
        if self._names is None:
            self._names = list(self._index)
        names, won, lost = self._names, self._logp[best], self._logp[second]
        weighed = sorted(((won[n] - lost[n], names[n]) for n in seen
                          if names[n].startswith(("W:", "S:"))), reverse=True)
        return tuple(f.split(":", 1)[1] for gain, f in weighed[:4] if gain > 0)


_loaded: IntentModel | None = None


def model() -> IntentModel:
    """The model in use: the shipped one, read once per process."""
    global _loaded
    if _loaded is None:
        _loaded = IntentModel.load()
    return _loaded


def use(replacement: IntentModel | None) -> IntentModel | None:
    """Put another model in use (None: the shipped one again); returns the one it replaces.
    For measuring: ``benchmarks/classify_eval.py --cross`` reads each split with a model
    counted without it."""
    global _loaded
    previous, _loaded = _loaded, replacement
    return previous
