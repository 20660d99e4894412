"""Runs the OASIS pattern validator (stix2-patterns, `validate-patterns`) over a corpus.

Usage: python validate_patterns.py CORPUS.json RESULTS.json

CORPUS.json is a JSON array of pattern strings. RESULTS.json receives an array of the same
length; each entry is {"valid": bool, "errors": [str], "exception": str or null}. A pattern
on which the validator raises an exception is reported invalid, with the exception named.
"""

import json
import sys

from stix2patterns.validator import run_validator


def check(pattern):
    try:
        errors = run_validator(pattern, stix_version="2.1")
    except Exception as e:  # the validator crashes on some inputs; report, do not stop
        return {"valid": False, "errors": [], "exception": "%s: %s" % (type(e).__name__, e)}
    return {"valid": not errors, "errors": [str(x) for x in errors], "exception": None}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        corpus = json.load(f)
    results = [check(p) for p in corpus]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
