"""Records are trusted or refused: page checksums on every file loadkit writes, verified on
read, and ``loadkit analyze`` on a damaged run gives a clear message and exit 2 or 3, never a
traceback and never a pass."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from loadkit.cli import main
from loadkit.results.merge import write_lost_arrivals, write_segment
from loadkit.results.reader import open_run
from loadkit.results.schema import ARRIVAL_SCHEMA
from loadkit.results.synthetic import SyntheticRun, write_synthetic_run
from loadkit.results.writer import RecordKind, SegmentWriter, rows_to_table

GATES = "p(95){step=checkout} < 2s\nerror_rate < 5%\n"


def loadkit(*args: str) -> tuple[int, str, str]:
    """Run the real console entry point (error mapping included): (exit code, stdout, stderr)."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _), pytest.raises(SystemExit) as done:
        main(list(args))
    code = done.value.code
    assert isinstance(code, int)
    return code, out.getvalue().decode(), err.getvalue().decode()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # inside the first column's data page
    path.write_bytes(bytes(data))


def _flip_in_column(path: Path, column: str) -> None:
    """Flip one byte in the middle of ``column``'s first data page: a column every analysis
    reads, so the damage cannot hide in a column the gates do not need."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    chunk = meta.row_group(0).column(names.index(column))
    data = bytearray(path.read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _noise_table(n: int = 20_000) -> pa.Table:
    # incompressible floats: zstd stores them raw, so only a page checksum can see a flipped bit
    return pa.table({"x": np.random.default_rng(3).normal(size=n)})


def test_a_flipped_bit_passes_unnoticed_without_page_checksums(tmp_path: Path) -> None:
    """Why the checksums matter: without them the damaged value is read as data."""
    path = tmp_path / "plain.parquet"
    pq.write_table(_noise_table(), path, compression="zstd")
    _flip_a_byte(path)
    assert pq.read_table(path, page_checksum_verification=True).num_rows == 20_000


def test_segments_and_compacted_files_carry_page_checksums(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, worker_id=0)
    table = rows_to_table(_dropped_rows(50), ARRIVAL_SCHEMA)
    segment = writer.write_table(RecordKind.ARRIVALS, table)
    assert segment is not None and _has_page_checksums(segment)
    writer.write_table(RecordKind.ARRIVALS, table)
    compacted = writer.compact()[RecordKind.ARRIVALS]
    assert pq.read_table(compacted, page_checksum_verification=True).num_rows == 100
    assert _has_page_checksums(compacted)


def _dropped_rows(n: int) -> list[tuple[object, ...]]:
    width = len(ARRIVAL_SCHEMA.names)
    return [
        (i, "fan", 1, 0, 10 * i, None, None, None, "dropped") + (None,) * (width - 9)
        for i in range(n)
    ]


def _has_page_checksums(path: Path) -> bool:
    """Corrupt the first data page's first value byte and see whether verification notices."""
    damaged = path.with_name("damaged-" + path.name)
    shutil.copy(path, damaged)
    col = pq.ParquetFile(path).metadata.row_group(0).column(0)
    start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    offset = start + col.total_compressed_size - 2  # inside the last data page's body
    data = bytearray(damaged.read_bytes())
    data[offset] ^= 0xFF
    damaged.write_bytes(bytes(data))
    try:
        pq.read_table(damaged, page_checksum_verification=True)
    except OSError as exc:
        return "CRC" in str(exc) or "checksum" in str(exc)
    except pa.ArrowException:
        return False
    return False


def test_merge_writes_page_checksums(tmp_path: Path) -> None:
    from loadkit.results.merge import SegmentId

    seg = SegmentId(RecordKind.REQUESTS, 1, 1)
    assert write_segment(tmp_path, seg, _noise_table())
    _flip_a_byte(tmp_path / seg.name)
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(tmp_path / seg.name, page_checksum_verification=True)
    lost = write_lost_arrivals(tmp_path, 1, rows_to_table(_dropped_rows(9), ARRIVAL_SCHEMA))
    assert lost is not None and _has_page_checksums(lost)


# ------------------------------------------------------------------ loadkit analyze, damaged


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticRun(duration_s=20, arrivals_per_s=5, segments_per_worker=3)
    return write_synthetic_run(tmp_path_factory.mktemp("good") / "run", spec)


@pytest.fixture
def gates_file(tmp_path: Path) -> Path:
    path = tmp_path / "gates.txt"
    path.write_text(GATES)
    return path


def _damaged(good: Path, tmp_path: Path, damage: Callable[[Path], object]) -> Path:
    run = tmp_path / "damaged"
    shutil.copytree(good, run)
    damage(run)
    return run


def _first_requests(run: Path) -> Path:
    return sorted((run / "records").glob("requests-*.parquet"))[0]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_records_are_written_with_checksums_a_flip_makes_the_run_invalid(
    good_run: Path, tmp_path: Path, gates_file: Path
) -> None:
    run = _damaged(good_run, tmp_path, lambda r: _flip_in_column(_first_requests(r), "response_ms"))
    bad = _first_requests(run)
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert code == 3, out + err
    assert "verdict: INVALID" in out
    assert f"records unreadable: {bad}: a page checksum does not match" in out
    verdict = json.loads((run / "analysis" / "verdict.json").read_text())
    assert verdict["verdict"] == "invalid"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_truncate, "no Parquet footer"),
        (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    ],
    ids=["truncated", "empty"],
)
def test_one_bad_segment_among_many_analyzes_the_rest_and_is_never_a_pass(
    good_run: Path, tmp_path: Path, gates_file: Path, damage: Callable[[Path], None], why: str
) -> None:
    run = _damaged(good_run, tmp_path, lambda r: damage(_first_requests(r)))
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert code == 3, out + err
    assert f"records unreadable: {_first_requests(run)}: {why}" in out
    assert "verdict: INVALID" in out
    assert "PASS  p(95){step=checkout} < 2s" in out  # the other segments were still analyzed
    assert "Traceback" not in err


def test_every_request_file_damaged_is_records_unreadable_exit_3(
    good_run: Path, tmp_path: Path, gates_file: Path
) -> None:
    def truncate_all(run: Path) -> None:
        for p in (run / "records").glob("requests-*.parquet"):
            _truncate(p)

    run = _damaged(good_run, tmp_path, truncate_all)
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert code == 3, out + err
    assert "records unreadable" in err and str(_first_requests(run)) in err
    assert "does not have" not in err  # not the old "names a step this run does not have"


def _set(key: str, value: object) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        path = run / "manifest.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))

    return edit


@pytest.mark.parametrize(
    ("damage", "code", "message"),
    [
        (lambda r: (r / "manifest.json").unlink(), 2, "no manifest.json in"),
        (lambda r: (r / "manifest.json").write_text("{oops"), 2, "manifest.json cannot be read"),
        (lambda r: (r / "manifest.json").write_text("[1, 2]"), 2, "must hold a JSON object"),
        (_set("t0_ns", "soon"), 2, "key 't0_ns' must be an integer"),
        (_set("duration_s", [60]), 2, "key 'duration_s' must be a number"),
        (_set("phases", [{"name": "spike"}]), 2, "key 'phases' must be a list of {name"),
        (_set("thresholds", "p95 < 1s"), 2, "key 'thresholds' must be a list of threshold"),
        (_set("workers", 3), 2, "key 'workers' must be a list of objects"),
        (_set("status", 1), 2, "key 'status' must be a string"),
        (lambda r: shutil.rmtree(r / "records"), 3, "no request records in"),
        (
            lambda r: [p.unlink() for p in (r / "records").iterdir()],
            3,
            "no request records in",
        ),
        (lambda r: [p.unlink() for p in r.iterdir() if p.is_file()], 2, "no manifest.json"),
    ],
    ids=[
        "no-manifest",
        "manifest-not-json",
        "manifest-not-object",
        "t0-not-int",
        "duration-not-number",
        "phase-incomplete",
        "thresholds-not-list",
        "workers-not-list",
        "status-not-string",
        "no-records-folder",
        "empty-records-folder",
        "only-empty-folders",
    ],
)
def test_analyze_never_tracebacks_on_a_damaged_run(
    good_run: Path,
    tmp_path: Path,
    gates_file: Path,
    damage: Callable[[Path], object],
    code: int,
    message: str,
) -> None:
    run = _damaged(good_run, tmp_path, damage)
    got, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert got == code, out + err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"not records"),  # not a record file name: ignored
        ("requests-w0-000077.parquet", b"hello"),  # a record file name: refused, named
    ],
)
def test_a_junk_file_among_segments(
    good_run: Path, tmp_path: Path, gates_file: Path, name: str, content: bytes
) -> None:
    run = _damaged(good_run, tmp_path, lambda r: (r / "records" / name).write_bytes(content))
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    if name.endswith(".parquet"):
        assert code == 3 and f"records unreadable: {run / 'records' / name}" in out
    else:
        assert code == 0 and "unreadable" not in out
    assert "Traceback" not in err


def test_a_folder_named_like_a_segment_is_refused_by_name(good_run: Path, tmp_path: Path) -> None:
    run = _damaged(
        good_run, tmp_path, lambda r: (r / "records" / "arrivals-w1-000042.parquet").mkdir()
    )
    opened = open_run(run)
    assert opened.partial
    assert any(
        r.endswith("arrivals-w1-000042.parquet: not a regular file") for r in opened.partial_reasons
    )


def test_a_foreign_parquet_file_under_a_record_name_is_refused_not_read_as_nulls(
    good_run: Path, tmp_path: Path, gates_file: Path
) -> None:
    def misfile(run: Path) -> None:
        arrivals = sorted((run / "records").glob("arrivals-*.parquet"))[0]
        shutil.copy(arrivals, run / "records" / "requests-w0-000050.parquet")

    run = _damaged(good_run, tmp_path, misfile)
    opened = open_run(run)
    assert len(opened.requests) == len(open_run(good_run).requests)  # no rows of nulls added
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert code == 3, out + err
    bad = run / "records" / "requests-w0-000050.parquet"
    assert f"records unreadable: {bad}: it does not hold request records" in out


def test_a_step_whose_only_segment_is_damaged_is_records_unreadable_not_bad_input(
    good_run: Path, tmp_path: Path, gates_file: Path
) -> None:
    def checkout_apart(run: Path) -> None:
        files = sorted((run / "records").glob("requests-*.parquet"))
        table = pq.read_table(files)
        for f in files:
            f.unlink()
        checkout = pc.equal(pc.cast(table["step"], pa.string()), "checkout")
        rest, alone = table.filter(pc.invert(checkout)), table.filter(checkout)
        pq.write_table(rest, run / "records" / "requests-w0-000001.parquet")
        pq.write_table(alone, run / "records" / "requests-w0-000002.parquet")
        _truncate(run / "records" / "requests-w0-000002.parquet")

    run = _damaged(good_run, tmp_path, checkout_apart)
    code, out, err = loadkit("analyze", str(run), "-t", str(gates_file))
    assert code == 3, out + err  # was 2: "names step 'checkout', which this run does not have"
    assert "verdict: INVALID" in out
    assert f"records unreadable: {run / 'records' / 'requests-w0-000002.parquet'}" in out
    assert "Traceback" not in out + err
