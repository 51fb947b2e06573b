"""The account pool: failure classification, cooldown state and account selection."""
