"""ESP32 app images made with esptool's own image writer, for the virtual board's
esp32.Partition tests: a header, two RAM segments (one carries the MicroPython banner the
virtual bootloader looks for), the checksum and the appended SHA-256."""

from __future__ import annotations


def esp32_app_image(micropython: str = "v1.28.0") -> bytes:
    from esptool.bin_image import ELFSection, ESP32FirmwareImage

    img = ESP32FirmwareImage()
    img.entrypoint = 0x40080000
    banner = (f"MicroPython {micropython} on 2026-04-06; Generic ESP32 module with ESP32"
              .encode() + b"\0")
    img.segments = [ELFSection(b".dram0.data", 0x3FFB0000, banner + b"\0" * (-len(banner) % 4), 0),
                    ELFSection(b".iram0.text", 0x40080000, b"\0" * 256, 0)]
    data = img.save(None)
    assert data is not None
    return data
