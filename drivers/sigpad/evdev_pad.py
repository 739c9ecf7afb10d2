"""The real signature pad: a USB pen tablet read through the kernel's evdev interface.

The device's event timestamps are switched to CLOCK_MONOTONIC with the EVIOCSCLOCKID ioctl
(python-evdev does not expose it), so each sample carries the kernel's own time of the report
on the appliance's clock. This backend therefore belongs with :class:`~drivers.clock.SystemClock`.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import struct

import evdev
from evdev import ecodes

from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError
from drivers.sigpad.base import PadInfo, PadSink, SignaturePad
from drivers.sigpad.parser import EventParser, RawEvent, deliver

log = logging.getLogger(__name__)

#: _IOW('E', 0xa0, int): (write << 30) | (sizeof(int) << 16) | ('E' << 8) | 0xa0.
EVIOCSCLOCKID = (1 << 30) | (4 << 16) | (ord("E") << 8) | 0xA0
CLOCK_MONOTONIC = 1
#: read() errors that mean the device is gone (unplugged, driver unbound).
_GONE = (errno.ENODEV, errno.EIO, errno.ENXIO, errno.EBADF)


def find_pad(device: str, *, exact: bool = False) -> str:
    """The /dev/input/event* path of ``device``: a path, or (part of) the device's name.

    Only devices with ABS_X and ABS_Y count. Raises :class:`DeviceMissingError` naming it."""
    if device.startswith("/"):
        if not os.path.exists(device):
            raise DeviceMissingError(f"signature pad {device}: no such device")
        return device
    paths = evdev.list_devices()
    for path in paths:
        try:
            candidate = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            name = candidate.name
            axes = {code for code, _ in candidate.capabilities(absinfo=True).get(ecodes.EV_ABS, [])}
        finally:
            candidate.close()
        matches = name == device if exact else device.lower() in name.lower()
        if matches and {ecodes.ABS_X, ecodes.ABS_Y} <= axes:
            return path
    raise DeviceMissingError(f"signature pad {device!r}: no pen tablet of that name among "
                             f"{len(paths)} input device(s) in /dev/input")


def open_pad_device(device: str, *, exact: bool = False) -> evdev.InputDevice:
    """Open the pad and switch its event timestamps to CLOCK_MONOTONIC."""
    path = find_pad(device, exact=exact)
    try:
        dev = evdev.InputDevice(path)
    except FileNotFoundError as e:
        raise DeviceMissingError(f"signature pad {device!r}: {path} went away") from e
    except PermissionError as e:
        raise DriverError(f"signature pad {device!r}: no permission to open {path} "
                          f"(the service user needs the 'input' group)") from e
    except OSError as e:
        raise DeviceMissingError(f"signature pad {device!r}: cannot open {path}: {e}") from e
    try:
        fcntl.ioctl(dev.fd, EVIOCSCLOCKID, struct.pack("i", CLOCK_MONOTONIC))
        pad_info(dev)  # refuses devices that are not tablets
    except OSError as e:
        dev.close()
        raise DriverError(f"signature pad {device!r} ({path}): cannot switch its timestamps "
                          f"to CLOCK_MONOTONIC (EVIOCSCLOCKID): {e}") from e
    except BaseException:
        dev.close()
        raise
    return dev


def pad_info(dev: evdev.InputDevice) -> PadInfo:
    """The pad's axes from the kernel's absinfo (resolution in units per mm)."""
    axes = dict(dev.capabilities(absinfo=True).get(ecodes.EV_ABS, []))
    if ecodes.ABS_X not in axes or ecodes.ABS_Y not in axes:
        raise DeviceMissingError(f"signature pad: {dev.path} ({dev.name}) has no ABS_X/ABS_Y "
                                 f"axes; it is not a pen tablet")
    x, y = axes[ecodes.ABS_X], axes[ecodes.ABS_Y]
    pressure = axes.get(ecodes.ABS_PRESSURE)
    return PadInfo(name=dev.name, x_min=x.min, x_max=x.max, y_min=y.min, y_max=y.max,
                   pressure_max=pressure.max if pressure else 0,
                   x_resolution=x.resolution, y_resolution=y.resolution)


class EvdevSignaturePad(SignaturePad):
    """A pen tablet on evdev. ``device``: a /dev/input/event* path or part of its name.

    When the device goes away while reading (ENODEV), a stroke in progress ends, the sink gets
    ``pad_lost`` and, with ``reconnect_s`` set, the pad is looked for by its exact name every
    ``reconnect_s`` seconds; when the same pad is back the sink gets ``pad_restored``.
    ``grab``: take the device exclusively (no desktop cursor moves with the pen).
    """

    def __init__(self, device: str, clock: Clock, *, reconnect_s: float | None = 1.0,
                 grab: bool = False) -> None:
        if reconnect_s is not None and not 0 < reconnect_s <= 3600:
            raise BadDriverArgument(f"reconnect_s={reconnect_s!r}: must be in (0, 3600] or None")
        dev = open_pad_device(device)
        try:
            info = pad_info(dev)
            if grab:
                dev.grab()
        except BaseException:
            dev.close()
            raise
        super().__init__(info, clock)
        self._dev: evdev.InputDevice | None = dev
        self._reconnect_s = reconnect_s
        self._grab = grab
        self._resync_pending = False
        self._wake_r, self._wake_w = os.pipe()

    @property
    def path(self) -> str | None:
        """The device node being read (None while the pad is lost)."""
        dev = self._dev
        return dev.path if dev is not None else None

    def _run(self, sink: PadSink) -> None:
        parser = EventParser(self.info)
        self._drain_stale()
        while not self._stopping.is_set():
            dev = self._dev
            if dev is None:  # lost: wait for stop(), or look for the pad again
                if self._stopping.wait(self._reconnect_s):
                    break
                self._try_reconnect(sink)
                continue
            ready, _, _ = select.select([dev.fd, self._wake_r], [], [])
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                continue
            try:
                events = list(dev.read())
            except BlockingIOError:
                continue
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                self._lose(sink, parser, f"{dev.path}: {e.strerror or e}")
                continue
            self._handle(events, parser, sink)
        deliver(parser.flush(self._clock.monotonic_ns()), sink)

    def _handle(self, events: list, parser: EventParser, sink: PadSink) -> None:
        for ev in events:
            raw = RawEvent(ev.type, ev.code, ev.value, ev.sec * 1_000_000_000 + ev.usec * 1000)
            deliver(parser.feed(raw), sink)
            if ev.type != ecodes.EV_SYN:
                continue
            if ev.code == ecodes.SYN_DROPPED:
                self._resync_pending = True
            elif ev.code == ecodes.SYN_REPORT and self._resync_pending:
                self._resync_pending = False
                deliver(parser.feed_all(self._current_state(raw.timestamp_ns)), sink)

    def _current_state(self, ts: int) -> list[RawEvent]:
        """After SYN_DROPPED: the device's state now, as one frame (evdev's resync rule)."""
        dev = self._dev
        assert dev is not None
        keys = set(dev.active_keys())
        frame = [RawEvent(ecodes.EV_ABS, code, dev.absinfo(code).value, ts)
                 for code in (ecodes.ABS_X, ecodes.ABS_Y, ecodes.ABS_PRESSURE)
                 if code != ecodes.ABS_PRESSURE or self.info.pressure_max]
        frame += [RawEvent(ecodes.EV_KEY, code, int(code in keys), ts)
                  for code in (ecodes.BTN_TOOL_PEN, ecodes.BTN_TOUCH)]
        return frame + [RawEvent(ecodes.EV_SYN, ecodes.SYN_REPORT, 0, ts)]

    def _lose(self, sink: PadSink, parser: EventParser, reason: str) -> None:
        now = self._clock.monotonic_ns()
        deliver(parser.flush(now), sink)
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                dev.close()
            except OSError:
                pass  # the node is already gone; closing the fd is all that is left
        self._set_health("lost")
        log.warning("signature pad %r lost: %s", self.info.name, reason)
        sink.pad_lost(now, reason)

    def _try_reconnect(self, sink: PadSink) -> None:
        try:
            dev = open_pad_device(self.info.name, exact=True)
        except DriverError:
            return
        if pad_info(dev) != self.info:
            log.warning("signature pad %r: %s has other axes, not taken", self.info.name, dev.path)
            dev.close()
            return
        if self._grab:
            dev.grab()
        self._dev = dev
        self._set_health("ok")
        sink.pad_restored(self._clock.monotonic_ns())

    def _drain_stale(self) -> None:
        """Events queued while nobody was reading belong to no signature: drop them."""
        dev = self._dev
        if dev is None:
            return
        try:
            while dev.read_one() is not None:
                pass
        except OSError:
            pass  # a lost device shows up again at the first read

    def _wake(self) -> None:
        os.write(self._wake_w, b"x")

    def _close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            dev.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
