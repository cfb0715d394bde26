"""mailworker: the email side of the Seoul blockchain governance group."""

__version__ = "0.1.0"
