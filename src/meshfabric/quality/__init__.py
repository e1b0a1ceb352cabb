"""Data quality: rules compiled to SQL and run in the source, column profiles, metric series,
anomaly detectors, alerts and their delivery."""
