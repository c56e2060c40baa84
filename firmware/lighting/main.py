from bourg import runtime
from pole_app import Pole

runtime.run(Pole)
