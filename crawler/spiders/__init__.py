"""Spiders: one per configured web source. Spiders only find pages; the pipeline does the rest."""
