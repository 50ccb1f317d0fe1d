"""Run the benchmarks: ``python -m bench [AREA ...]``; writes .bench/latest.md.

With no AREA every area runs (``make bench``); ``python -m bench --help`` lists them."""

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
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__, "\nareas:", sep="\n")
        for area in areas:
            doc = importlib.import_module(f"bench.bench_{area}").__doc__ or ""
            print(f"  {area:<12} {doc.strip().splitlines()[0] if doc.strip() else ''}")
        return 0
    chosen = argv or areas
    unknown = [a for a in chosen if a not in areas]
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; known: {', '.join(areas)}")
        return 2
    sections = [f"# loadkit benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"]
    for area in chosen:
        print(f"== bench {area}", flush=True)
        module = importlib.import_module(f"bench.bench_{area}")
        started = time.perf_counter()
        section = module.run()
        print(section, flush=True)
        print(f"== bench {area}: {time.perf_counter() - started:.0f} s", flush=True)
        sections.append(section)
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text("\n\n".join(sections) + "\n")
    print(f"written: {out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
