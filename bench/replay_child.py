"""Child of the memory benchmark: replay one recorded Lambda event in a fresh interpreter.

Details: bench/README.md, "replay_child.py".
"""

import importlib.util
import sys
import time


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def connector_loaded() -> bool:
    return "snowflake.connector" in sys.modules


def parse_args(args: list[str]) -> tuple[bool, list[str], str, list[str]]:
    """``[--cold-start] [--block m1,m2] app.py [path ...]`` -> (cold start, blocked, file, paths)."""
    cold_start = args[:1] == ["--cold-start"]
    if cold_start:
        args = args[1:]
    blocked: list[str] = []
    if args[:1] == ["--block"]:
        blocked, args = [name for name in args[1].split(",") if name], args[2:]
    file, *paths = args
    return cold_start, blocked, file, paths


def main() -> None:
    cold_start, blocked, file, paths = parse_args(sys.argv[1:])
    for name in blocked:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # `import name` raises ImportError
    event_text = sys.stdin.read()
    sys.path[:0] = paths
    stdout = sys.stdout
    sys.stdout = sys.stderr  # the handler's logs must not mix with the report line
    started, started_cpu = time.perf_counter(), time.process_time()
    spec = importlib.util.spec_from_file_location("app", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    init_error = None
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # Lambda fails such an init too (Runtime.ImportModuleError): reported
        init_error = f"{type(exc).__name__}: {exc}"[:500]
    init_seconds = time.perf_counter() - started
    init_cpu_seconds = time.process_time() - started_cpu
    at_init = connector_loaded()
    import json
    import tracemalloc

    from sandbox.aws.lambda_context import LambdaContext

    event = json.loads(event_text)
    context = LambdaContext.from_environment("bench")
    import_rss = peak_rss_kb()
    if not cold_start:
        tracemalloc.start()
    error = init_error
    call_started, call_started_cpu = time.perf_counter(), time.process_time()
    try:
        if init_error is None:
            module.lambda_handler(event, context)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    call_seconds = time.perf_counter() - call_started
    call_cpu_seconds = time.process_time() - call_started_cpu
    traced_peak = 0
    if not cold_start:
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    sys.stdout = stdout
    report = {
        "import_rss_kb": import_rss,
        "peak_rss_kb": peak_rss_kb(),
        "call_traced_peak_kb": traced_peak // 1024,
        "errored": error is not None,
        "error": error,
        "init_error": init_error,
        "init_seconds": init_seconds,
        "call_seconds": call_seconds,
        "init_cpu_seconds": init_cpu_seconds,
        "call_cpu_seconds": call_cpu_seconds,
        "connector_at_init": at_init,
        "connector_loaded": connector_loaded(),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
