"""Temporal workflows and the pure journey model they interpret."""
