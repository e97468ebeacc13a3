"""The expert system: rule packs (loading, validation), the knowledge base, facts and measures
read from a profile, the engine that evaluates the rules, findings and recommendations, and the
comparison of two analyses. A new rule measure goes here; rules themselves are data (rules/)."""
