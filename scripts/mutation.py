"""Mutation testing of myapp/, file_lifecycle/, uploader/ and transfer/ with mutmut (`make
mutation` runs it on PostgreSQL).

mutmut ([tool.mutmut] in pyproject.toml) copies the code into mutants/, runs the fast tests once
to learn which tests call each function, then runs each mutant against those tests only. This
prints a score per module and every mutant that survived, with its change and the reason given
for it in docs/mutation-survivors.md. Results stay in mutants/: a second run tests only the
mutants of functions changed since (delete mutants/ for a run from scratch).

    python scripts/mutation.py                      # every module, two mutants at a time
    python scripts/mutation.py 'uploader.models.*'  # only these mutants (mutmut's names)
    python scripts/mutation.py --jobs 1             # one at a time
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MUTANTS = BASE_DIR / "mutants"
SURVIVORS_FILE = BASE_DIR / "docs" / "mutation-survivors.md"
MUTMUT = Path(sys.executable).parent / "mutmut"
# Where mutation_plugin.py is, for pytest's -p ([tool.mutmut] in pyproject.toml).
PLUGIN_DIR = Path(__file__).resolve().parent
# A mutant is caught when a test fails, or runs out of time (a mutated loop that never ends).
CAUGHT = {"killed", "timeout", "caught by type check"}
# Never run: skipped by mutmut, or left out by the names asked for.
NOT_RUN = {"skipped", "not checked"}
SPINNER = re.compile("^[\u2800-\u28ff]")


def run_mutmut(names, jobs):
    # The pytest runs load scripts/mutation_plugin.py, and share what it keeps in
    # TEST_SHARED_DIR: static files, collected by the first run (again each time, for the
    # Django of the day), and a test database per mutant running at once.
    shared = MUTANTS / "shared"
    shutil.rmtree(shared / "staticfiles", ignore_errors=True)
    shared.mkdir(parents=True, exist_ok=True)
    python_path = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))
    environ = {**os.environ, "TEST_SHARED_DIR": str(shared), "PYTHONPATH": python_path}
    command = [MUTMUT, "run", "--max-children", str(jobs), *names]
    with subprocess.Popen(
        command, cwd=BASE_DIR, env=environ, stdout=subprocess.PIPE, text=True, errors="replace"
    ) as mutmut:
        # mutmut redraws a progress line (ending in \r, read as a line) many times a second:
        # keep only the lines that stay.
        for line in mutmut.stdout:
            if line.strip() and not SPINNER.match(line):
                print(line, end="", flush=True)
    return mutmut.returncode


def results():
    """{mutant name: status} of every mutant, from `mutmut results --all true`."""
    listing = subprocess.run(
        [MUTMUT, "results", "--all", "true"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"^\s+(\S+): (.+)$", listing, re.MULTILINE))


def module_path(mutant):
    """myapp/serving/health.py for myapp.serving.health.x_readyz__mutmut_3 or a method's mutant."""
    return mutant.rsplit(".", 1)[0].replace(".", "/") + ".py"


def reasons(text):
    """{mutant name: reason} from the table rows of the survivors file."""
    return dict(re.findall(r"^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|\s*$", text, re.MULTILINE))


def score_table(statuses):
    """Lines of a table: per module, caught / run mutants and the score."""
    counts = defaultdict(Counter)
    for mutant, status in statuses.items():
        counts[module_path(mutant)][status] += 1
    width = max(len("module"), *map(len, counts))
    lines = [f"{'module':<{width}} {'caught':>7} {'run':>5} {'score':>6}  not caught"]
    for module, count in sorted(counts.items()):
        run = sum(n for status, n in count.items() if status not in NOT_RUN)
        caught = sum(count[status] for status in CAUGHT)
        missed = ", ".join(
            f"{n} {status}" for status, n in sorted(count.items()) if status not in CAUGHT | NOT_RUN
        )
        score = f"{100 * caught / run:5.1f}%" if run else "    -"
        lines.append(f"{module:<{width}} {caught:>7} {run:>5} {score:>6}  {missed}")
    return lines


def diff(mutant):
    """The lines a mutant changes, as `mutmut show` prints them."""
    shown = subprocess.run([MUTMUT, "show", mutant], cwd=BASE_DIR, capture_output=True, text=True)
    return [
        line
        for line in shown.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def report(statuses, explained):
    print("\nMutation score per module (run: mutants run against tests)")
    print("\n".join(score_table(statuses)))
    survivors = sorted(m for m, status in statuses.items() if status not in CAUGHT | NOT_RUN)
    print(f"\n{len(survivors)} survivors ({SURVIVORS_FILE.relative_to(BASE_DIR)} gives reasons):")
    for mutant in survivors:
        reason = explained.get(mutant, "NO REASON GIVEN: add a test, or a row with its reason")
        print(f"  {mutant} [{statuses[mutant]}]: {reason}")
        for line in diff(mutant):
            print(f"      {line.strip()}")
    stale = sorted(m for m in explained if statuses.get(m) in CAUGHT or m not in statuses)
    if stale:
        print(f"\nListed in {SURVIVORS_FILE.name} but no longer surviving (remove the rows):")
        print("\n".join(f"  {mutant}" for mutant in stale))


def main(arguments):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once")
    parser.add_argument("names", nargs="*", help="mutants to run (globs of mutmut's names)")
    arguments = parser.parse_args(arguments)
    started = time.monotonic()
    returncode = run_mutmut(arguments.names, arguments.jobs)
    # A test process that crashed (SIGSEGV, seen now and then as a forked run with threads
    # exits) tells nothing of its mutant: each such mutant runs again, alone, once.
    crashed = [mutant for mutant, status in results().items() if status == "segfault"]
    if crashed and not returncode:
        print(f"\nRunning again the {len(crashed)} mutants whose test process crashed")
        returncode = run_mutmut(crashed, 1)
    if returncode:
        return returncode
    explained = reasons(SURVIVORS_FILE.read_text()) if SURVIVORS_FILE.exists() else {}
    report(results(), explained)
    minutes = (time.monotonic() - started) / 60
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_minutes = (used.ru_utime + used.ru_stime) / 60
    print(f"\nmake mutation took {minutes:.1f} minutes ({cpu_minutes:.1f} minutes of CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
