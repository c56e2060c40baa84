"""CPython test setup: put firmware/lib, build/umqtt and tests/mp on sys.path and give
umqtt_pinned (umqtt.simple 1.3.4) the u-modules it imports (usocket is replaced by a FakeBroker
per test)."""
import binascii
import os
import struct
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FW_LIB = os.path.join(ROOT, "firmware", "lib")
UMQTT = os.path.join(ROOT, "build", "umqtt")

for p in (FW_LIB, UMQTT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

if "usocket" not in sys.modules:
    _us = types.ModuleType("usocket")

    def _no_socket(*a):
        raise OSError(101)  # ENETUNREACH: tests must install a FakeBroker

    _us.socket = _no_socket
    _us.getaddrinfo = _no_socket
    sys.modules["usocket"] = _us
sys.modules.setdefault("ustruct", struct)
sys.modules.setdefault("ubinascii", binascii)


def umqtt_available():
    return os.path.exists(os.path.join(UMQTT, "umqtt_pinned.py"))
