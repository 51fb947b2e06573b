"""Upstream transports: one per account kind, each speaking the Gemini generateContent schema."""
