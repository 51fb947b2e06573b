"""Client protocols: pure converters between each wire protocol and the Gemini-shaped hub."""
