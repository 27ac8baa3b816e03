"""`sam local invoke` and `sam local start-lambda` for real, in a container (docs/sam-local.md).

engine: a Docker engine (Debian's docker.io, started and stopped by PID when none runs);
image: the Debian-based stand-in for Lambda's python3.12 image, built once per content hash;
__main__: `python -m scripts.sam_local run` (make sam-local) builds both, runs `sam build` for
x86_64 and the tests in tests/sam_local/.
"""
