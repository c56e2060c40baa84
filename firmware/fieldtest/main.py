from bourg import runtime
from fieldtest_app import FieldTest

runtime.run(FieldTest)
