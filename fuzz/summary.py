"""Tabulates a fuzzing run's outcomes (the JSON lines `hooks.py` writes) and exits 1 when
the run was too small or a mutation never succeeded.

Usage: python summary.py OUTCOMES [--min-operations N]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outcomes")
    parser.add_argument("--min-operations", type=int, default=5000)
    parser.add_argument("--mutations", nargs="*", default=[], help="every mutation of the schema")
    args = parser.parse_args()
    sent = collections.Counter()
    succeeded = collections.Counter()
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    statuses = collections.Counter()
    with open(args.outcomes, encoding="utf-8") as lines:
        for line in lines:
            outcome = json.loads(line)
            key = (outcome["operation"], outcome["field"])
            sent[key] += 1
            statuses[outcome["status"]] += 1
            if outcome["ok"]:
                succeeded[key] += 1
            for code in outcome["codes"]:
                codes[key][code] += 1
    total = sum(sent.values())
    print(f"{total} operations sent; HTTP statuses: {dict(sorted(statuses.items()))}")
    print(f"{'operation':<46} {'sent':>6} {'ok':>6}  most frequent refusals")
    for key in sorted(sent):
        refusals = ", ".join(f"{c} {n}" for c, n in codes[key].most_common(3))
        print(f"{key[0] + ' ' + key[1]:<46} {sent[key]:>6} {succeeded[key]:>6}  {refusals}")
    failed = False
    if total < args.min_operations:
        print(f"fewer than {args.min_operations} operations were sent")
        failed = True
    never = [m for m in args.mutations if succeeded[("mutation", m)] == 0]
    if never:
        print("mutations that never succeeded:", ", ".join(never))
        failed = True
    fives = sum(n for status, n in statuses.items() if status >= 500)
    if fives:
        print(f"{fives} answers were 5xx")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
