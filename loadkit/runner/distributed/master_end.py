"""The end of a master's run on disk: lost arrivals accounted, the manifest, the exit code.

The ``Master`` (``loadkit.runner.distributed.master``) drives the run; these functions read
its state and write what the run leaves behind: the manifest (``running`` at t0, then the final
status), each lost worker's unreported arrivals as ``dropped``/``worker_lost`` rows, and the
goodbye that tells the workers whether the records are complete.
"""

from __future__ import annotations

import resource
import time
from typing import TYPE_CHECKING

import gevent
from locust import __version__ as locust_version

from loadkit import __version__ as loadkit_version
from loadkit.errors import ExitCode
from loadkit.results.merge import write_lost_arrivals
from loadkit.results.schema import RECORDS_DIR, RunStatus
from loadkit.results.writer import write_manifest
from loadkit.runner.distributed.accounting import build_manifest, lost_arrivals
from loadkit.runner.distributed.messages import Bye, MessageType
from loadkit.runner.distributed.roster import Fate

if TYPE_CHECKING:
    from loadkit.runner.distributed.master import Master


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def account_lost(master: Master) -> None:
    """Write each lost worker's unreported arrivals as ``dropped``/``worker_lost`` rows."""
    if master.t0_ns is None:
        return
    records = master.run_dir / RECORDS_DIR
    for slot in master.slots:
        if slot.fate is not Fate.LOST or not slot.shards:
            continue
        ids, offsets = master.files.schedule.for_shards(slot.shards, master.spec.shards)
        table = lost_arrivals(
            ids,
            offsets,
            slot.reported_arrival_ids(),
            worker_id=slot.worker_id,
            t0_ns=master.t0_ns + slot.clock_offset_ns,
            total_shards=master.spec.shards,
            persona_names=master.files.persona_names,
            persona_of=master.files.persona_of,
        )
        slot.lost_arrivals = table.num_rows
        write_lost_arrivals(records, slot.worker_id, table)
        master.echo(f"worker {slot.worker_id}: {table.num_rows} arrival(s) accounted as lost")


def write_master_manifest(master: Master, status: RunStatus, ended: bool = False) -> None:
    """Write ``manifest.json`` as the master sees the run now (``ended``: with its end time)."""
    manifest = build_manifest(
        master.spec,
        status=status,
        started_at_s=master.started_at_s,
        ended_at_s=time.time() if ended else None,
        t0_ns=master.t0_ns,
        workers=master.slots,
        versions={
            "loadkit": loadkit_version,
            "locust": locust_version,
            "gevent": gevent.__version__,
        },
        scenario=master.files.scenario_entry,
        profile=master.files.profile_entry,
        plan=master.files.plan_entry,
        stop_reason=master.stop_reason,
        aborted_by_threshold=master.aborted_by_threshold,
        master={
            "bind": master.options.bind,
            "port": master.port,
            "expect_workers": master.options.expect_workers,
            "worker_lost_s": master.options.worker_lost_s,
            "dry_run": master.options.dry_run,
            "refused": master.inbox.refused if master.inbox else [],
            **master.run_usage,
        },
    )
    write_manifest(master.run_dir, manifest)


def finish(master: Master) -> int:
    """Account the lost, write the final manifest, say goodbye; return the run's exit code."""
    if master.run_mark is not None:  # the master's own cost while records streamed in
        start_wall_s, start_cpu_s = master.run_mark
        master.run_usage = {
            "run_wall_s": time.monotonic() - start_wall_s,
            "run_cpu_s": cpu_s() - start_cpu_s,
        }
    account_lost(master)
    aborted = master.interrupted or master.aborted_by_threshold is not None
    status = RunStatus.ABORTED if aborted else RunStatus.COMPLETED
    if master.records_lost is not None:  # as a local run: failed, invalid (exit 3)
        status = RunStatus.FAILED
    write_master_manifest(master, status, ended=True)
    complete = all(s.records_complete for s in master.slots)
    for slot in master.slots:
        if slot.fate is Fate.DONE:
            master.send(slot, MessageType.BYE, Bye(complete))
    gevent.sleep(0.2)  # let the goodbyes leave before the socket closes
    lost = sum(1 for s in master.slots if s.fate is Fate.LOST)
    master.echo(
        f"run {master.spec.run_id}: {status.value}, {len(master.slots)} worker(s), "
        f"{lost} lost, records {'complete' if complete else 'INCOMPLETE'}"
    )
    if master.records_lost is not None:
        return ExitCode.INVALID
    if master.aborted_by_threshold is not None:  # as a local run: failed, exit 1
        return ExitCode.FAILED
    return ExitCode.INTERRUPTED if master.interrupted else ExitCode.PASSED


__all__ = ["account_lost", "cpu_s", "finish", "write_master_manifest"]
