"""TI TMP102 I2C temperature sensor (±0.5 °C): pointer register, 12-bit reading in 0.0625 °C."""

REG_TEMP = 0x00
REG_CONFIG = 0x01


class TMP102:
    def __init__(self, i2c, addr=0x48):
        self.i2c = i2c
        self.addr = addr

    def present(self):
        try:
            self.i2c.readfrom_mem(self.addr, REG_CONFIG, 2)
            return True
        except OSError:
            return False

    def celsius(self):
        b = self.i2c.readfrom_mem(self.addr, REG_TEMP, 2)
        raw = ((b[0] << 8) | b[1]) >> 4
        if raw & 0x800:
            raw -= 0x1000
        return raw * 0.0625
