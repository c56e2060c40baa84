"""Find the bay's magnetometer by I2C address and chip id. Every driver offers read_ut(),
temperature() (None if the chip has none), sleep(), has_wake_interrupt and name."""
from drivers.hmc5883l import HMC5883L
from drivers.qmc5883l import QMC5883L

DRIVERS = (QMC5883L, HMC5883L)


def probe(i2c):
    """The first known chip that answers with the right id, or None."""
    for cls in DRIVERS:
        if cls.probe(i2c):
            return cls(i2c)
    return None
