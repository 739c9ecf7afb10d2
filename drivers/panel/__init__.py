"""The button/LED panel: RECORD, NEXT, REPLAY, a RECORD LED, a STATUS LED and a buzzer."""
from drivers.panel.backends import open_panel
from drivers.panel.base import BUTTONS, PanelEvent, PanelPins, check_pins
from drivers.panel.panel import Panel
from drivers.panel.sim import SimPanel

__all__ = ["BUTTONS", "Panel", "PanelEvent", "PanelPins", "SimPanel", "check_pins", "open_panel"]
