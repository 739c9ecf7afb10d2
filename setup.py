"""dualrec: firmware for a 双录 (insurance-sales dual recording) counter appliance."""
from setuptools import find_packages, setup

setup(
    name="dualrec",
    version="0.1.0",
    description="Tamper-evident 双录 recording appliance firmware for Raspberry Pi",
    python_requires=">=3.11",
    packages=find_packages(include=["firmware", "firmware.*", "drivers", "drivers.*",
                                    "provisioning", "provisioning.*"]),
    package_data={"": ["*.toml", "scripts/*.toml", "samples/*.jsonl"]},
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
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "moto[server]>=5",
            "import-linter==2.5",
        ],
    },
    entry_points={
        "console_scripts": [
            "dualrec=firmware.cli.main:main",
            "dualrec-fleet=firmware.cli.fleet:main",
            "dualrec-provision=provisioning.cli:main",
        ],
    },
)
