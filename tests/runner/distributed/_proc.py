"""Test entry: ``python -m tests.runner.distributed._proc master|worker ...``.

The same as ``python -m loadkit.runner.distributed``, except that a worker can pretend to run
another loadkit version (``LOADKIT_TEST_PRETEND_VERSION``) to test the refusal.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402

import loadkit  # noqa: E402

if os.environ.get("LOADKIT_TEST_PRETEND_VERSION"):
    loadkit.__version__ = os.environ["LOADKIT_TEST_PRETEND_VERSION"]

from loadkit.runner.distributed.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
