"""Hardware drivers: one package per kind of hardware.

Each package holds an abstract interface (``base.py``), a real backend and a simulated backend
with its own test controls. Drivers never import :mod:`firmware`.
"""
