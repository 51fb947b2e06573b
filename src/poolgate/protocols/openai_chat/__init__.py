"""OpenAI Chat Completions: request → hub, hub → chat.completion and its chunk stream."""
