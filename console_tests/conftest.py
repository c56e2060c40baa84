pytest_plugins = ["host_tools.testing.plugin"]
