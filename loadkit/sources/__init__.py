"""YAML source files with positions, and the bounded reading of every file a person names.

Only loaders see these raw structures; they turn them into frozen models and report
problems as ``InputError`` with ``file:line:column`` and a key path. Every file is read
within ``LIMITS`` (size, values after alias expansion, nesting depth; regular files only),
so a hostile file is a located ``InputError`` within a second, never a hang, a
MemoryError or a RecursionError.
"""

from loadkit.sources.files import (
    ALLOW_PATHS_ENV,
    allow_paths,
    check_regular_file,
    data_file,
    load_json_capped,
    load_yaml_file,
    read_capped_bytes,
    read_capped_text,
    read_source_text,
)
from loadkit.sources.limits import LIMITS, SourceLimits, kind_of
from loadkit.sources.yaml_source import (
    Problems,
    YamlList,
    YamlMap,
    expect_list,
    expect_map,
    load_yaml_text,
)

__all__ = [
    "ALLOW_PATHS_ENV",
    "LIMITS",
    "Problems",
    "SourceLimits",
    "YamlList",
    "YamlMap",
    "allow_paths",
    "check_regular_file",
    "data_file",
    "expect_list",
    "expect_map",
    "kind_of",
    "load_json_capped",
    "load_yaml_file",
    "load_yaml_text",
    "read_capped_bytes",
    "read_capped_text",
    "read_source_text",
]
