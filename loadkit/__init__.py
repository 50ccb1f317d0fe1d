"""loadkit: rehearse ticket on-sales under traffic spikes.

The public surface is small on purpose; subpackages export their own APIs
(``loadkit.results.open_run``, ``loadkit.scenario.load_scenario``, ...).
"""

from loadkit.errors import ExitCode, LoadkitError

__version__ = "0.1.0"

__all__ = ["ExitCode", "LoadkitError", "__version__"]
