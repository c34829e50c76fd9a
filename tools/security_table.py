#!/usr/bin/env python3
"""Checks that docs/security.md's checklist table cites only tests that exist.

Every cell of the "proven by" column is read for backquoted names: a GoogleTest name or pattern
(`Suite.Name`, `Suite.*`, `*Part*`) must match at least one test the given test binaries list
(--gtest_list_tests), and a path (`fuzz/*_fuzz.cpp`, `tests/security/run.sh`) must match a file.
A row whose kind is `enforce` must cite at least one. Usage:
    security_table.py docs/security.md BINARY...
"""
import fnmatch
import glob
import re
import subprocess
import sys

GTEST = re.compile(r"^[A-Za-z*][\w*]*(\.[\w*/]+)?$")


def listed_tests(binaries):
    names = []
    for binary in binaries:
        out = subprocess.run([binary, "--gtest_list_tests"], check=True, capture_output=True, text=True).stdout
        suite = None
        for line in out.splitlines():
            if not line.strip() or line.startswith("Running main()"):
                continue
            if not line.startswith(" "):
                suite = line.split("#")[0].strip().rstrip(".")
                suite = suite.split("/")[-1] if "/" in suite else suite  # Instance/Suite -> Suite
                continue
            name = line.split("#")[0].strip().split("/")[0]  # Name/0 -> Name
            names.append(f"{suite}.{name}")
    return names


def main():
    doc, binaries = sys.argv[1], sys.argv[2:]
    tests = listed_tests(binaries)
    failures = []
    rows = 0
    for number, line in enumerate(open(doc, encoding="utf-8"), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 5 or not re.match(r"^\d", cells[0]):
            continue
        rows += 1
        item, kind, proof = cells[0], cells[2], cells[4]
        cited = 0
        for token in re.findall(r"`([^`]+)`", proof):
            if token.startswith("make "):
                continue  # a make target, named for the reader; the run itself is in `make test`
            if "/" in token or token.endswith((".sh", ".py", ".cpp", ".yml")):
                if not glob.glob(token.rstrip("/")):
                    failures.append(f"{doc}:{number}: row {item}: no file matches `{token}`")
                cited += 1
            elif GTEST.match(token):
                if not any(fnmatch.fnmatchcase(t, token) for t in tests):
                    failures.append(f"{doc}:{number}: row {item}: no test matches `{token}`")
                cited += 1
        if kind == "enforce" and cited == 0:
            failures.append(f"{doc}:{number}: row {item} is enforced but cites no test")
    if rows == 0:
        failures.append(f"{doc}: no checklist table found")
    for failure in failures:
        print("security table:", failure)
    if failures:
        print(f"security table: FAILED: {len(failures)} citation(s) wrong in {doc}")
        return 1
    print(f"security table: {rows} rows, every cited test exists ({len(tests)} tests listed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
