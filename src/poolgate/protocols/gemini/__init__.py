"""Gemini-native API: mostly validation and careful pass-through of the hub schema."""
