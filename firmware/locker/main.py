from bourg import runtime
from locker_app import Locker

runtime.run(Locker)
