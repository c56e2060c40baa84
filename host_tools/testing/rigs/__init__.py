"""Role rigs: what stands around a virtual board of each role, and how worlds of them are built.

A street of poles (`street`), a locker bank (`bank`), a car park of sensor nodes and a totem
(`lot`), and `by_role.attach`, which gives a board the parts its config names, as `bourg
emulate` and the demo do. The HIL tests, the bench and the demo build their worlds here.

Why apart from the emulator: the emulator models one chip and the world's radio and nothing
of the products; the rigs know the products, so they sit above it (ARCHITECTURE.md).
"""
