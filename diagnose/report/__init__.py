"""Renderers: each turns an Analysis into text (terminal, JSON, Markdown, SVG)."""
