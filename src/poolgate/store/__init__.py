"""Persistent state: accounts, settings, mappings, cooldowns and logs behind one Store."""
