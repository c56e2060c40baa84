# The app to run: this folder's, or the one an over-the-air update staged (lib/ota_boot.py)
import ota_boot

ota_boot.start()
del ota_boot

from bourg import runtime
from fieldtest_app import FieldTest

runtime.run(FieldTest)
