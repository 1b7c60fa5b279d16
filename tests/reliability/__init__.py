"""Reliability: killed runs resume, bad input fails cleanly, API and git faults leave no duplicates."""
