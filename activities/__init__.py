"""Side effects for workflows: audience reads, deliveries, campaign clones (issue 3 on)."""
