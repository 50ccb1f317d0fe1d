"""Thresholds files: a YAML list of strings, or plain text with one threshold per line."""

from __future__ import annotations

from pathlib import Path

from loadkit.errors import InputError, Location
from loadkit.gates.model import ThresholdSpec
from loadkit.sources import LIMITS, load_yaml_text, read_capped_text


def load_thresholds_file(path: str | Path) -> tuple[ThresholdSpec, ...]:
    """Read thresholds from a YAML list of strings, or plain text one per line (``#`` comments).

    Returns specs with file:line; parse them with ``parse_threshold(spec.text, spec.location)``.
    Raises ``InputError`` when the file is missing or not a list of strings.
    """
    p = Path(path)
    try:
        raw = read_capped_text(p, LIMITS.yaml_bytes, "thresholds file")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the thresholds file: {exc}",
            location=Location(str(p)),
            hint="Check the path (it is relative to the current directory).",
        ) from None
    lines = [ln for ln in raw.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and lines[0].lstrip().startswith(("-", "thresholds:")):
        return _yaml_specs(raw, p)
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        body = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if body.strip():
            column = len(line) - len(line.lstrip()) + 1
            out.append(ThresholdSpec(body.strip(), Location(str(p), n, column)))
    return tuple(out)


def _yaml_specs(raw: str, p: Path) -> tuple[ThresholdSpec, ...]:
    data = load_yaml_text(raw, str(p))
    if data is None:
        return ()
    if isinstance(data, dict):
        data = data.get("thresholds", data)
    specs = []
    for i, item in enumerate(data):
        loc = data.item_loc(i) if hasattr(data, "item_loc") else Location(str(p))
        if not isinstance(item, str):
            raise InputError(
                "each threshold must be a string",
                location=loc,
                hint='Quote it: - "p(95) < 800ms"',
            )
        specs.append(ThresholdSpec(item, loc))
    return tuple(specs)


__all__ = ["load_thresholds_file"]
