"""The profile model: samples and their stacks (profile), the call graph, the flame tree,
statistics, symbol names, the summary and the thread selection. Built by diagnose.inputs, read by
the expert system and the reports."""
