"""From a browser recording to a scenario: ``import_har(path)`` turns a HAR (HTTP Archive,
as browsers' dev tools export it) into a readable scenario skeleton (YAML text).

Pure functions over the file's data: nothing is sent anywhere. See docs/import-har.md.
"""

from loadkit.har.importer import import_har, import_har_to
from loadkit.har.model import MAX_HAR_BYTES, Har, HarEntry, read_har

__all__ = ["MAX_HAR_BYTES", "Har", "HarEntry", "import_har", "import_har_to", "read_har"]
