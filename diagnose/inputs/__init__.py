"""Readers: one per input format, and format detection."""
