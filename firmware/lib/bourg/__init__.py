"""bourg: shared runtime for the street-furniture firmwares (MicroPython and CPython)."""
VERSION = "0.1.0"
