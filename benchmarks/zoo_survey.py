"""The zoo's survey: which well-known architectures make checkerboards at random init, at which
layer, and what ``checkerscope.convert`` (or anti-aliasing, for discriminators) does to them.

Every number comes from running ``checkerscope.zoo.survey`` (``checkerscope.audit`` on each
architecture of ``checkerscope.zoo.ARCHITECTURES`` at its small default widths and documented
input shape). Prints the markdown table, the time each audit took and the whole survey's wall
and CPU time; ``--markdown FILE`` writes the table, ``--json FILE`` the rows. The README's
table of architectures is not this script's: it comes from the ``architectures`` experiment of
the committed run (``checkerscope reproduce``), with the claim it decides. One torch thread by
default: the models are small, and on two shared cores more threads only spin.

    python benchmarks/zoo_survey.py [--seeds 8] [--batch 4] [--names dcgan srgan ...]
        [--threads 1] [--markdown zoo_survey.md] [--json zoo_survey.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import torch

from checkerscope import zoo
from checkerscope.files import atomic_write_text, plain_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", default=None, choices=list(zoo.ARCHITECTURES))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", default=None, help="write the table here")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    rows = zoo.survey(args.names, seeds=args.seeds, batch=args.batch)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    table = zoo.survey_markdown(rows)
    print(table)
    for row in rows:
        print(f"{row.name:>22}: {row.seconds:5.1f} s")
    print(
        f"survey of {len(rows)} architectures: {wall:.1f} s wall, {cpu:.1f} s CPU; load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    if args.markdown:
        atomic_write_text(args.markdown, table)
        print(f"wrote {args.markdown}")
    if args.json:
        data = {
            "seeds": args.seeds,
            "batch": args.batch,
            "threads": args.threads,
            "torch": torch.__version__,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "rows": [row.to_dict() for row in rows],
        }
        atomic_write_text(args.json, json.dumps(plain_json(data), indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
