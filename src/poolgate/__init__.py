"""poolgate: a self-hosted AI gateway over a pool of Google Gemini accounts."""

__version__ = "0.1.0"
