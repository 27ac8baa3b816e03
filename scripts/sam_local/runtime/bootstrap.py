"""/var/runtime/bootstrap.py of the stand-in image: Lambda's module search path, then awslambdaric's loop."""

import os
import site
import sys

from awslambdaric.__main__ import main

TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
# The function's code first, then a layer's python/lib/python3.12/site-packages and python/ ("Packaging
# your layer content", AWS Lambda Developer Guide: the layer paths of each runtime).
sys.path.insert(0, TASK_ROOT)
site.addsitedir("/opt/python/lib/python3.12/site-packages")
site.addsitedir("/opt/python")

# The emulator names the handler in AWS_LAMBDA_FUNCTION_HANDLER (_HANDLER in Lambda itself).
main([sys.argv[0], os.environ.get("_HANDLER") or os.environ["AWS_LAMBDA_FUNCTION_HANDLER"]])
