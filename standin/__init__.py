"""WeaverGen stand-in model: an OpenAI-compatible test double, never presented as AI."""
