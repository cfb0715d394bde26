"""Precision and recall of the classifier on the labelled member-mail corpus.

    python benchmarks/classify_eval.py                 # both splits, then each
    python benchmarks/classify_eval.py --split heldout  # only the held-out split
    python benchmarks/classify_eval.py --errors         # list every wrong answer
    python benchmarks/classify_eval.py --cross          # each split read by a model counted
                                                        # without it (leave one split out)

The corpus (tests/data/member_mail/) was written by hand as members write; dev.txt was
used to tune the classifier, heldout.txt only to measure it. Besides precision and recall
per kind and the confusion matrix, the line that matters most is "wrongly credited": mail
whose label is not review/proposal but which the classifier gave a credit kind (an hour
each). It must be 0; the test suite checks it on every run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailworker.ingest import intent_model  # noqa: E402
from mailworker.ingest.classify import classify  # noqa: E402
from mailworker.ingest.parse import parse_message  # noqa: E402
from mailworker.models import CREDITABLE_KINDS, KINDS  # noqa: E402
from tests.member_corpus import SPLITS, Sample, examples, load  # noqa: E402


def evaluate(samples: list[Sample], verdicts: list | None = None) -> dict:
    if verdicts is None:
        verdicts = [classify(parse_message(s.raw())) for s in samples]
    results = list(zip(samples, verdicts))
    kinds = [k for k in KINDS if any(s.kind == k or v.kind == k for s, v in results)]
    matrix = {(a, p): 0 for a in kinds for p in kinds}
    for s, v in results:
        matrix[(s.kind, v.kind)] += 1
    right = sum(1 for s, v in results if s.kind == v.kind)
    wrong_credit = [(s, v) for s, v in results
                    if v.kind in CREDITABLE_KINDS and s.kind not in CREDITABLE_KINDS]
    return {"results": results, "kinds": kinds, "matrix": matrix, "right": right,
            "total": len(results), "wrong_credit": wrong_credit}


def cross_verdicts(split: str) -> list:
    """The split's verdicts with the learned reading counted from every other split."""
    others = [s for name in SPLITS if name != split for s in load(name)]
    shipped = intent_model.use(intent_model.IntentModel(intent_model.train(examples(others))))
    try:
        return [classify(parse_message(s.raw())) for s in load(split)]
    finally:
        intent_model.use(shipped)


def table(ev: dict) -> str:
    kinds, matrix = ev["kinds"], ev["matrix"]
    lines = ["| kind | mails | precision | recall |", "|---|---:|---:|---:|"]
    for k in kinds:
        predicted = sum(matrix[(a, k)] for a in kinds)
        actual = sum(matrix[(k, p)] for p in kinds)
        tp = matrix[(k, k)]
        prec = f"{tp / predicted:.2f}" if predicted else "-"
        rec = f"{tp / actual:.2f}" if actual else "-"
        lines.append(f"| {k} | {actual} | {prec} | {rec} |")
    lines.append("")
    short = {k: k[:6] for k in kinds}
    lines.append("| label \\ answer | " + " | ".join(short[k] for k in kinds) + " |")
    lines.append("|---|" + "---:|" * len(kinds))
    for a in kinds:
        lines.append(f"| {a} | " + " | ".join(str(matrix[(a, p)] or ".") for p in kinds) + " |")
    lines.append("")
    lines.append(f"right: {ev['right']}/{ev['total']} = {ev['right'] / ev['total']:.1%}; "
                 f"wrongly credited (not review/proposal, answered as one): "
                 f"{len(ev['wrong_credit'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=SPLITS + ("all",), default=None)
    ap.add_argument("--errors", action="store_true", help="list every wrong answer")
    ap.add_argument("--cross", action="store_true",
                    help="read each split with a model counted without it")
    args = ap.parse_args(argv)
    splits = [args.split] if args.split and args.split != "all" else list(SPLITS)
    groups = [(name, load(name)) for name in splits]
    verdicts = {name: None for name, _ in groups}
    if args.cross:
        verdicts = {name: cross_verdicts(name) for name, _ in groups}
    if len(groups) > 1:
        groups.insert(0, ("all", [s for _, ss in groups for s in ss]))
        verdicts["all"] = ([v for name, _ in groups[1:] for v in verdicts[name]]
                           if args.cross else None)
    worst = 0
    for name, samples in groups:
        ev = evaluate(samples, verdicts[name])
        print(f"## {name} ({len(samples)} mails)\n")
        print(table(ev))
        print()
        if args.errors:
            for s, v in ev["results"]:
                if s.kind != v.kind:
                    print(f"  {s.label} {s.kind} -> {v.kind}: {s.subject!r}: {v.reason}")
            print()
        worst = max(worst, len(ev["wrong_credit"]))
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
