"""bourg host tools: the `bourg` command and the virtual boards used by tests and the demo."""

__version__ = "0.1.0"
