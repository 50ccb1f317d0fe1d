"""Schedule compile speed: seconds to draw 1M and 10M arrivals from a shipped profile.

Run: ``python -m bench profiles``. The profiles' crowds are scaled up (``Scale(crowd=...)``)
so that each schedule holds the target number of arrivals; the shape is unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path

from loadkit.profiles import Scale, compile_schedule, load_profile

_PROFILES = Path(__file__).resolve().parents[1] / "profiles"
_CASES = (
    ("spike-demo.yaml", 1_000_000, 3),
    ("spike-demo.yaml", 10_000_000, 2),
    ("onsale-reference.yaml", 1_000_000, 3),
    ("onsale-reference.yaml", 10_000_000, 2),
)


def _best_of(profile_file: str, arrivals: int, repeats: int) -> tuple[float, int]:
    base = load_profile(_PROFILES / profile_file)
    profile = base.scaled(Scale(time=1.0, crowd=arrivals / base.expected_arrivals()))
    best_s, count = float("inf"), 0
    for seed in range(repeats):
        start = time.perf_counter()
        schedule = compile_schedule(profile, seed)
        best_s = min(best_s, time.perf_counter() - start)
        count = len(schedule)
    return best_s, count


def run() -> str:
    rows = []
    for profile_file, arrivals, repeats in _CASES:
        seconds, count = _best_of(profile_file, arrivals, repeats)
        rows.append(
            f"| {profile_file} | {count:,} | {seconds:.2f} s | {count / seconds / 1e6:.1f} M/s "
            f"| best of {repeats} |"
        )
    return "\n".join(
        [
            "## profiles: schedule compile speed",
            "",
            "`compile_schedule(profile, seed)`: Poisson arrivals, exact inversion of Λ(t).",
            "",
            "| profile (crowd scaled) | arrivals | time | throughput | runs |",
            "| --- | ---: | ---: | ---: | --- |",
            *rows,
            "",
            "Reproduce: `python -m bench profiles`",
        ]
    )


if __name__ == "__main__":
    print(run())
