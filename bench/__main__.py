"""Run the benchmarks: ``python -m bench [AREA ...]``; writes .bench/latest.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    areas = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    chosen = argv or areas
    unknown = [a for a in chosen if a not in areas]
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; known: {', '.join(areas)}")
        return 2
    sections = [f"# loadkit benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"]
    for area in chosen:
        print(f"== bench {area}", flush=True)
        module = importlib.import_module(f"bench.bench_{area}")
        section = module.run()
        print(section, flush=True)
        sections.append(section)
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text("\n\n".join(sections) + "\n")
    print(f"written: {out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
