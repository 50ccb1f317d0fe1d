"""`make bench`: speed measured side by side in one run (see BENCHMARKS.md).

Each ``bench/bench_<area>.py`` exposes ``run() -> str`` returning a Markdown section with its
figures and the command that reproduces them (``python -m bench <area>``).
"""
