"""Layer 5: analysis specs (TOML), running them, report writers and batches of analyses."""
