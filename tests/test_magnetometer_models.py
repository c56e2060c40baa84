"""The emulator's magnetometer models: their own noise, and what it means for the LIS2MDL's
threshold interrupt that a wake-on-change node sleeps behind."""
import statistics
import struct

from host_tools.emulator.parts import LIS2MDL

EARTH = (20.0, 2.0, -42.0)


def _armed_lis(noise_ut: float, ths_ut: float) -> LIS2MDL:
    """A LIS2MDL as the node leaves it: offsets at the settled field, continuous 10 Hz, the
    interrupt on the offset-corrected data of all three axes, latched off."""
    m = LIS2MDL(field_ut=EARTH, noise_ut=noise_ut, seed=7)
    off = [int(round(v / m.UT_PER_LSB)) for v in EARTH]
    for i, b in enumerate(struct.pack("<hhh", *off)):
        m.write_reg(0x45 + i, b)
    ths = int(round(ths_ut / m.UT_PER_LSB))
    m.write_reg(0x65, ths & 0xFF)
    m.write_reg(0x66, ths >> 8)
    m.write_reg(0x61, 0x08)  # INT_on_DataOFF
    m.write_reg(0x63, 0xE0 | 0x04 | 0x01)  # X, Y, Z enabled, active high, IEN
    m.write_reg(0x60, 0x00)  # continuous, 10 Hz
    return m


def _run(m: LIS2MDL, seconds: float) -> list[int]:
    xs = []
    for k in range(int(seconds * 10)):
        m.tick(k / 10.0 + 0.001)
        xs.append(struct.unpack("<h", bytes(m.regs[0x68:0x6A]))[0])
    return xs


def test_the_chip_has_its_datasheet_noise_and_no_false_wake_at_5_sigma():
    m = _armed_lis(0.3, 1.5)
    xs = _run(m, 600)  # ten minutes of conversions
    sd = statistics.pstdev(x * m.UT_PER_LSB for x in xs)
    assert 0.25 < sd < 0.35
    assert m.interrupts == 0  # 1.5 uT is 5 sigma: under a false wake a day at 10 Hz


def test_noise_near_the_threshold_trips_it():
    m = _armed_lis(0.3, 0.6)  # 2 sigma: the chip would wake the node all the time
    _run(m, 60)
    assert m.interrupts > 10
    quiet = _armed_lis(0.0, 0.6)
    _run(quiet, 60)
    assert quiet.interrupts == 0
