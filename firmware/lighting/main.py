# The app to run: this folder's, or the one an over-the-air update staged (lib/ota_boot.py)
import ota_boot

ota_boot.start()
del ota_boot

from bourg import runtime
from pole_app import Pole

runtime.run(Pole)
