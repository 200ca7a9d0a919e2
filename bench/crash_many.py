#!/usr/bin/env python3
"""Hundreds of SIGKILLs during `capdb ingest`: the long form of
tests/reliability/test_sigkill.py, with the same checks after every kill
(integrity_check, an earlier capture intact, the killed capture an exact
prefix of whole batches in agreement with its captures row, and a rerun that
completes the file exactly once).

  bench/crash_many.py [--capdb PATH] [--kills 300] [--packets 200000]
                      [--batch 2000] [--seed S] [--workdir DIR]

Prints one line per kill and a summary: how many kills hit a running ingest,
how many left a partial capture, and how the committed prefixes were spread
over the file. Exit 0 when every round passed.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reliability"))
import test_sigkill  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capdb", help="capdb binary (default: $CAPDB, else <repo>/build/capdb)")
    ap.add_argument("--kills", type=int, default=300)
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workdir")
    a = ap.parse_args()
    if a.capdb:
        os.environ["CAPDB"] = os.path.abspath(a.capdb)
    argv = ["--kills", str(a.kills), "--packets", str(a.packets), "--batch", str(a.batch)]
    if a.seed is not None:
        argv += ["--seed", str(a.seed)]
    if a.workdir:
        argv += ["--workdir", a.workdir]
    return test_sigkill.main(argv)


if __name__ == "__main__":
    sys.exit(main())
