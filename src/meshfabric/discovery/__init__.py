"""Discovery: scan a source's tables and files, recognise semantic types and PII from sampled
values, cluster datasets into business areas and draft product specs."""
