"""Find the bay's magnetometer by I2C address and chip id. Every driver offers read_ut(),
temperature() (None if the chip has none), sleep(), has_wake_interrupt and name; a chip with
has_wake_interrupt also offers arm(ref_ut, threshold_ut), disarm() and int_source().

The HMC5883L and the LIS2MDL share address 0x1E: the HMC is asked for its "H43" id first,
because its registers stop at 0x0C and the LIS2MDL's id register is 0x4F."""
from drivers.hmc5883l import HMC5883L
from drivers.lis2mdl import LIS2MDL
from drivers.qmc5883l import QMC5883L

DRIVERS = (QMC5883L, HMC5883L, LIS2MDL)


def probe(i2c):
    """The first known chip that answers with the right id, or None."""
    for cls in DRIVERS:
        if cls.probe(i2c):
            return cls(i2c)
    return None
