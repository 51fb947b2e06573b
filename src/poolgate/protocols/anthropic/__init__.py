"""Anthropic Messages API: request → hub, hub → message and its event stream."""
