"""Child of the memory benchmark: replay one recorded Lambda event in a fresh interpreter.

    python bench/replay_child.py <app.py> [sys.path entry ...] < event.json

Imports the handler (cold start), calls it once with the event and a stand-in context, and prints
one JSON line: ``{"import_rss_kb", "peak_rss_kb", "call_traced_peak_kb", "errored", "error"}``
(``peak_rss_kb`` is the process's peak resident set, VmHWM: Lambda's "Max Memory Used"
counterpart. Not ru_maxrss: after fork + exec that can report the forking parent's size.)
"""

import importlib.util
import json
import sys
import tracemalloc

from sandbox.aws.lambda_context import LambdaContext


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    file, *paths = sys.argv[1:]
    sys.path[:0] = paths
    event = json.load(sys.stdin)
    spec = importlib.util.spec_from_file_location("app", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    stdout = sys.stdout
    sys.stdout = sys.stderr  # the handler's logs must not mix with the report line
    spec.loader.exec_module(module)
    import_rss = peak_rss_kb()
    tracemalloc.start()
    error = None
    try:
        module.lambda_handler(event, LambdaContext.from_environment("bench"))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sys.stdout = stdout
    report = {
        "import_rss_kb": import_rss,
        "peak_rss_kb": peak_rss_kb(),
        "call_traced_peak_kb": traced_peak // 1024,
        "errored": error is not None,
        "error": error,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
