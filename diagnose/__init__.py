"""diagnose: rule-based diagnosis of Linux CPU profiles of real-time media processes."""

__version__ = "0.1.0"
