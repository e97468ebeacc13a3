"""The orchestration: wires inputs, model, expert system, capture and reports together (the
pipeline, many captures at once, the diff of two captures, a run folder's analysis, rule tests).
Commands call this; nothing below it calls back up."""
