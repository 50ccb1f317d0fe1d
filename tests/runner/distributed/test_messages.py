"""The protocol's messages survive the wire (msgpack, as Locust sends them) and refuse garbage."""

from __future__ import annotations

import msgpack
import pytest

from loadkit.runner.distributed.messages import (
    PROTOCOL_VERSION,
    Batch,
    Done,
    FilePayload,
    Hello,
    MessageType,
    Plan,
    ProtocolError,
    check_hello,
    from_wire,
    to_wire,
)


def _through_msgpack(msg_type: MessageType, payload: object) -> object:
    # what locust.rpc.protocol.Message does with (type, data, node_id)
    raw = msgpack.dumps((msg_type.value, to_wire(payload), "node-1"))
    kind, data, _node = msgpack.loads(raw, raw=False, strict_map_key=False)
    return from_wire(kind, data)


def _plan() -> Plan:
    return Plan(
        worker_id=1,
        run_id="r1",
        seed=7,
        shards=(1, 3, 5),
        total_shards=6,
        clock_offset_ns=-1500,
        host="http://127.0.0.1:8080",
        scenario=FilePayload.of("shop.yaml", b"name: shop\n"),
        profile=FilePayload.of("spike.yaml", b"duration: 10s\n"),
        spec={"run_id": "r1", "seed": 7},
    )


def test_a_plan_crosses_the_wire_intact() -> None:
    plan = _plan()
    back = _through_msgpack(MessageType.PLAN, plan)
    assert back == plan
    assert back.shards == (1, 3, 5)
    back.scenario.verify()


def test_a_batch_keeps_its_bytes_and_sequence() -> None:
    batch = Batch(worker_id=2, kind="arrivals", seq=12, rows=3, parquet=b"PAR1\x00\x01PAR1")
    assert _through_msgpack(MessageType.BATCH, batch) == batch


def test_done_carries_segment_counts() -> None:
    done = Done(0, "completed", {"requests": 4, "arrivals": 2}, {"requests": 400, "arrivals": 20})
    back = _through_msgpack(MessageType.DONE, done)
    assert back.segments == {"requests": 4, "arrivals": 2}


def test_tampered_content_fails_its_checksum() -> None:
    payload = FilePayload.of("shop.yaml", b"name: shop\n")
    tampered = FilePayload(payload.name, b"name: other\n", payload.sha256)
    with pytest.raises(ProtocolError, match=r"shop\.yaml: content sha256"):
        tampered.verify()


def test_unknown_type_and_malformed_data_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="unknown message type"):
        from_wire("lk_nonsense", {})
    with pytest.raises(ProtocolError, match="must be a map"):
        from_wire("lk_ping", [1, 2])
    with pytest.raises(ProtocolError, match="malformed Ping"):
        from_wire("lk_ping", {"nonce": 1})


def test_newer_peers_may_add_keys() -> None:
    assert from_wire("lk_stop", {"reason": "x", "added_later": 1}).reason == "x"


def _hello(**kw: object) -> Hello:
    base: dict[str, object] = dict(
        loadkit_version="0.1.0",
        locust_version="2.47.0",
        python_version="3.11.9",
        host="box",
        pid=42,
    )
    base.update(kw)
    return Hello(**base)  # type: ignore[arg-type]


def test_a_worker_of_the_same_version_is_accepted() -> None:
    assert check_hello(_hello(), loadkit_version="0.1.0", scenario_sha256="ab" * 32) is None


def test_a_worker_of_another_loadkit_version_is_refused_with_both_versions() -> None:
    reason = check_hello(
        _hello(loadkit_version="0.0.9"), loadkit_version="0.1.0", scenario_sha256="ab" * 32
    )
    assert reason is not None
    assert "worker runs loadkit 0.0.9" in reason and "master runs loadkit 0.1.0" in reason


def test_a_worker_expecting_another_scenario_is_refused() -> None:
    reason = check_hello(
        _hello(expect_scenario_sha256="cd" * 32), loadkit_version="0.1.0", scenario_sha256="ab" * 32
    )
    assert reason is not None and "scenario sha256" in reason


def test_a_worker_of_another_protocol_is_refused() -> None:
    reason = check_hello(
        _hello(protocol=PROTOCOL_VERSION + 1), loadkit_version="0.1.0", scenario_sha256="ab" * 32
    )
    assert reason is not None and "protocol" in reason


def test_referenced_files_travel_with_the_plan() -> None:
    from dataclasses import replace

    plan = replace(_plan(), files=(FilePayload.of("scenario/data/fans.csv", b"fan\nann\n"),))
    back = _through_msgpack(MessageType.PLAN, plan)
    assert back == plan
    assert back.files[0].name == "scenario/data/fans.csv"


def test_a_worker_never_writes_a_file_outside_its_folder(tmp_path: object) -> None:
    from pathlib import Path

    from loadkit.runner.distributed.job import _save

    folder = Path(str(tmp_path))
    with pytest.raises(ProtocolError, match="outside"):
        _save(FilePayload.of("scenario/../../evil.csv", b"x"), folder, keep_dirs=True)
    with pytest.raises(ProtocolError, match="outside"):
        _save(FilePayload.of("/etc/evil.csv", b"x"), folder, keep_dirs=True)
    saved = _save(FilePayload.of("profile/traces/t.csv", b"t"), folder, keep_dirs=True)
    assert saved == folder / "profile" / "traces" / "t.csv"
