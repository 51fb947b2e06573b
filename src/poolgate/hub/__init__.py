"""The hub: Gemini's generateContent schema, which every protocol converts to and from."""
