from tests.runner.distributed.procs import procs

__all__ = ["procs"]
