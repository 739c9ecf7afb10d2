"""Finding a PyAudio (PortAudio) device by name, with errors that list what exists.

PortAudio enumerates devices once, at ``Pa_Initialize`` (a new ``pyaudio.PyAudio()`` when no
other instance is alive in the process); on Linux it lists the ALSA cards as
``"<card name>: <pcm name> (hw:C,D)"`` and the PCMs defined in the ALSA configuration
(``default``, and those of ``~/.asoundrc``) by their own names.
"""
from __future__ import annotations

from typing import Any

from drivers.errors import BadDriverArgument, DeviceMissingError

PyAudioInstance = Any  # pyaudio.PyAudio; imported lazily by the backends


def find_device(pa: PyAudioInstance, name: str | None, *, direction: str,
                role: str) -> dict:
    """The device info of ``name`` (exact name, else a unique substring such as ``hw:1,0``).

    ``None`` means PortAudio's default device for ``direction``. ``role`` ("microphone",
    "speaker") starts the error messages.
    """
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    infos = [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]
    usable = [info for info in infos if info[key] > 0]
    found = ", ".join(repr(info["name"]) for info in usable) or "none"
    if name is None:
        try:
            if direction == "input":
                return pa.get_default_input_device_info()
            return pa.get_default_output_device_info()
        except OSError:
            raise DeviceMissingError(f"{role} (default): no default PyAudio {direction} "
                                     f"device; found: {found}") from None
    exact = [info for info in usable if info["name"] == name]
    if exact:
        return exact[0]
    partial = [info for info in usable if name in info["name"]]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise BadDriverArgument(f"{role} {name!r}: matches several PyAudio {direction} "
                                f"devices: {', '.join(repr(i['name']) for i in partial)}; "
                                "give the whole name")
    raise DeviceMissingError(f"{role} {name!r}: no such PyAudio {direction} device; "
                             f"found: {found}")
