"""The clock driver: SimClock's controls, ClockWatch's step detection, the real SystemClock."""
from __future__ import annotations

import time
from pathlib import Path

from drivers.clock import ClockWatch, SimClock, SyncState, SystemClock

S = 1_000_000_000


# -- SimClock ----------------------------------------------------------------------------------
def test_a_manual_clock_moves_only_when_told() -> None:
    clock = SimClock(realtime=False, start_wall_ns=1_700_000_000 * S)
    mono, wall = clock.monotonic_ns(), clock.realtime_ns()
    assert mono == 1000 * S  # as after a boot
    assert wall == 1_700_000_000 * S
    time.sleep(0.01)
    assert clock.monotonic_ns() == mono
    clock.advance(1.5)
    assert clock.monotonic_ns() - mono == 1_500_000_000
    assert clock.realtime_ns() - wall == 1_500_000_000


def test_sleep_until_advances_a_manual_clock_and_never_goes_back() -> None:
    clock = SimClock(realtime=False)
    start = clock.monotonic_ns()
    clock.sleep_until_ns(start + 2 * S)
    assert clock.monotonic_ns() == start + 2 * S
    clock.sleep_until_ns(start + S)  # in the past: nothing
    assert clock.monotonic_ns() == start + 2 * S


def test_a_realtime_sim_clock_follows_real_time() -> None:
    clock = SimClock(realtime=True)
    a = clock.monotonic_ns()
    time.sleep(0.02)
    b = clock.monotonic_ns()
    assert 0.015 * S < b - a < 0.5 * S
    clock.advance(10)
    assert clock.monotonic_ns() - b >= 10 * S


def test_step_wall_moves_wall_time_alone() -> None:
    clock = SimClock(realtime=False)
    mono, wall = clock.monotonic_ns(), clock.realtime_ns()
    clock.step_wall(5)
    assert clock.monotonic_ns() == mono
    assert clock.realtime_ns() - wall == 5 * S
    clock.step_wall(-7)
    assert clock.realtime_ns() - wall == -2 * S


def test_drift_runs_wall_time_fast_or_slow() -> None:
    clock = SimClock(realtime=False)
    wall = clock.realtime_ns()
    clock.set_drift_ppm(100)
    clock.advance(100)
    assert clock.realtime_ns() - wall == 100 * S + 10_000_000  # 100 ppm of 100 s = 10 ms
    clock.set_drift_ppm(-50)
    before = clock.realtime_ns()
    clock.advance(100)
    assert clock.realtime_ns() - before == 100 * S - 5_000_000


def test_changing_the_drift_rate_does_not_step_wall_time() -> None:
    clock = SimClock(realtime=False)
    clock.advance(10_000)
    before = clock.realtime_ns()
    clock.set_drift_ppm(400)
    assert clock.realtime_ns() == before
    clock.set_drift_ppm(0)
    assert clock.realtime_ns() == before


def test_reboot_changes_the_boot_id_and_restarts_monotonic_time() -> None:
    clock = SimClock(realtime=False)
    clock.advance(3600)
    boot, wall = clock.boot_id(), clock.realtime_ns()
    clock.reboot()
    assert clock.boot_id() != boot
    assert clock.monotonic_ns() == 1 * S
    assert clock.realtime_ns() == wall  # wall time goes on across the reboot
    clock.advance(2)
    assert clock.monotonic_ns() == 3 * S


def test_sync_state_follows_set_synced() -> None:
    clock = SimClock(realtime=False)
    assert clock.sync_state().synced
    clock.set_synced(False)
    state = clock.sync_state()
    assert isinstance(state, SyncState) and not state.synced
    assert state.as_record()["max_error_us"] == state.max_error_us


def test_sample_reads_both_clocks_together() -> None:
    clock = SimClock(realtime=False)
    clock.advance(1)
    sample = clock.sample()
    assert sample.monotonic_ns == clock.monotonic_ns()
    assert sample.realtime_ns == clock.realtime_ns()
    assert sample.boot_id == clock.boot_id()
    assert sample.as_record()["mono_ns"] == sample.monotonic_ns


# -- ClockWatch --------------------------------------------------------------------------------
def test_clockwatch_reports_a_five_second_wall_step() -> None:
    clock = SimClock(realtime=False)
    watch = ClockWatch(clock)
    assert watch.check()[1] is None  # the first sample has nothing to compare with
    clock.advance(1)
    assert watch.check()[1] is None
    clock.advance(1)
    clock.step_wall(5)
    sample, step = watch.check()
    assert step is not None
    assert step.step_ns == 5 * S
    assert step.after == sample
    clock.advance(1)
    assert watch.check()[1] is None  # the step is reported once
    clock.step_wall(-5)
    assert watch.check()[1].step_ns == -5 * S


def test_clockwatch_ignores_ntp_slewing() -> None:
    clock = SimClock(realtime=False)
    watch = ClockWatch(clock, threshold_ms=100)
    watch.check()
    clock.set_drift_ppm(450)  # slewing just under the kernel's 500 ppm limit
    for _ in range(10):
        clock.advance(600)    # 10 minutes: 270 ms of slew each time, far above the threshold
        assert watch.check()[1] is None


def test_clockwatch_threshold_and_reboot() -> None:
    clock = SimClock(realtime=False)
    watch = ClockWatch(clock, threshold_ms=100)
    watch.check()
    clock.advance(1)
    clock.step_wall(0.05)
    assert watch.check()[1] is None  # 50 ms: under the threshold
    clock.step_wall(0.2)
    assert watch.check()[1] is not None
    clock.reboot()
    clock.step_wall(30)
    assert watch.check()[1] is None  # monotonic times of two boots do not compare


# -- SystemClock -------------------------------------------------------------------------------
def test_system_clock_reads_the_kernel_clocks() -> None:
    clock = SystemClock()
    a = clock.monotonic_ns()
    k = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    b = clock.monotonic_ns()
    assert a <= k <= b
    assert abs(clock.realtime_ns() - time.time_ns()) < S
    sample = clock.sample()
    assert b <= sample.monotonic_ns <= clock.monotonic_ns()


def test_system_clock_boot_id_is_the_kernels() -> None:
    clock = SystemClock()
    assert clock.boot_id() == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert len(clock.boot_id()) == 36


def test_system_clock_boot_id_path_can_be_given(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0123\n")
    assert SystemClock(boot_id_path=str(path)).boot_id() == "0123"


def test_system_clock_sync_state_does_not_raise() -> None:
    state = SystemClock().sync_state()
    assert isinstance(state, SyncState)
    assert isinstance(state.synced, bool)
    assert isinstance(state.est_error_us, int) and isinstance(state.max_error_us, int)
    assert state.source == "adjtimex" or state.source.startswith("adjtimex failed")


def test_clockwatch_on_the_system_clock_sees_no_step() -> None:
    watch = ClockWatch(SystemClock())
    watch.check()
    time.sleep(0.01)
    assert watch.check()[1] is None
