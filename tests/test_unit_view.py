"""A dead uplink is not only logged: it shows in ``dualrec status``, in the fleet's state, on
the STATUS LED and in the watchdog's idea of health (issue 12)."""
from __future__ import annotations

from drivers.clock import SimClock
from firmware.config.loading import replace
from firmware.unit.appliance import Appliance
from firmware.cli.demo import demo_config


def test_a_failed_uplink_shows_everywhere(tmp_path):
    config = replace(demo_config(tmp_path), camera={"width": 320, "height": 240, "fps": 15,
                                                    "bitrate": 300_000})
    app = Appliance(config, clock=SimClock(realtime=True))
    try:
        assert app.status()["uplinks"] == {"sync": "off", "fleet": "off"}
        assert app.view.state().state == "idle" and app.healthy()
        assert app.hardware.panel.led_mode("status") == "solid"
        # what the uploader's worker calls when its thread dies (Uploader(on_failure=...))
        app.uplinks.failed("sync", RuntimeError("state database unreadable"))
        assert app.status()["uplinks"]["sync"] == "RuntimeError: state database unreadable"
        state = app.view.state()
        assert state.state == "fault" and "sync: RuntimeError" in state.detail
        assert not app.healthy()                     # the watchdog starves: systemd restarts
        assert app.hardware.panel.led_mode("status") == "blink"
    finally:
        app.close()
