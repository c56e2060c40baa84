"""Test infrastructure: the pytest plugin, the role rigs that wire virtual boards into a
street, a lot or a bank, the embedded broker, `bourg emulate` and `bourg hil`."""
