"""The self-contained HTML preview page of a reconstruction (page.py)."""
