"""Build: the pinned MicroPython image, mpy-cross, and staging the firmware files a board gets.
Below everything else on the host: the emulator and the field tools both build on it."""
