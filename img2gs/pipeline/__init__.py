"""The product pipeline: photo -> generated views -> fitted splats -> files."""
