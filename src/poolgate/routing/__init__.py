"""Model routing: client model names to upstream Gemini model names."""
