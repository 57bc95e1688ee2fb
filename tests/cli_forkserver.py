"""Runs `hywia` commands in forked children, for tests that SIGKILL them at chosen moments.

Importing torch and transformers takes seconds; a command on a tiny model takes a fraction of one. This process
imports everything once, then for each JSON argument list read from stdin forks a child that runs the `hywia`
command line (the same `main` as the console script) and prints the child's pid, then its wait status once it
has ended (finished or killed). The parent never runs a torch operation, so the children start clean.

    python tests/cli_forkserver.py   # then write ["prune", "--model", ...] lines on stdin
"""

import json
import os
import sys

import torch  # noqa: F401  (imported once, shared by the children)
import transformers  # noqa: F401

import optimum_hywia.data  # noqa: F401  (the commands import these lazily)
import optimum_hywia.evaluation  # noqa: F401
import optimum_hywia.hub  # noqa: F401
import optimum_hywia.pruner  # noqa: F401
from optimum_hywia.commands.cli import main

try:  # the model card's widths plot imports matplotlib lazily
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
except ImportError:
    pass


def run_child(argv: list[str]) -> None:
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    try:
        main(argv)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
    os._exit(code)


def serve() -> None:
    for line in sys.stdin:
        argv = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(argv)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)


if __name__ == "__main__":
    serve()
