"""The profile a probe runs: the user's shape, scaled so its peak arrival rate is the probe's.

The runner reads a profile *file*, so each probe gets its own copy of the user's YAML with
``scale:`` set (on top of any scale the file already had: ``Profile.scaled`` semantics, rates ×
crowd / time), trace files made absolute and the source's folder (and its ``allow_paths``)
allowed (the copy lives in the probe's folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loadkit.profiles import Profile, Scale, load_profile_text


def probe_scale(profile: Profile, rate_per_s: float, length_s: float | None = None) -> Scale:
    """The extra scale that takes ``profile`` (as loaded, its file scale applied) to a peak of
    ``rate_per_s``, squeezed or stretched in time to ``length_s`` when given."""
    peak_per_s, _ = profile.peak_rate()
    if not peak_per_s > 0:
        raise ValueError(f"the profile {profile.name!r} sends nobody: nothing to scale")
    time = 1.0 if length_s is None else length_s / profile.duration_s
    return Scale(time=time, crowd=rate_per_s / peak_per_s * time)


def probe_profile_text(source: Path, profile: Profile, scale: Scale) -> str:
    """The YAML of ``source`` with ``scale`` applied on top of its own ``scale:``."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    total = Scale(profile.scale.time * scale.time, profile.scale.crowd * scale.crowd)
    doc["scale"] = {"time": total.time, "crowd": total.crowd}
    for seg in doc.get("segments") or ():
        if isinstance(seg, dict) and seg.get("kind") == "trace" and "file" in seg:
            seg["file"] = str((source.parent / str(seg["file"])).resolve())
    # the copy lives elsewhere: the files the source may read stay readable, and no others
    allowed = [source.parent, *(source.parent / str(p) for p in doc.get("allow_paths") or ())]
    doc["allow_paths"] = [str(p.resolve()) for p in allowed]
    return yaml.safe_dump(doc, sort_keys=False)


def write_probe_profile(
    source: Path, profile: Profile, rate_per_s: float, out: Path, length_s: float | None = None
) -> Profile:
    """Write the probe's profile file to ``out`` and return it as loaded (checks it loads)."""
    text = probe_profile_text(source, profile, probe_scale(profile, rate_per_s, length_s))
    out.write_text(text, encoding="utf-8")
    return load_profile_text(text, str(out))


__all__ = ["probe_profile_text", "probe_scale", "write_probe_profile"]
