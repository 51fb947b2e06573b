"""OpenAI Responses API: request → hub, hub → Response objects."""
