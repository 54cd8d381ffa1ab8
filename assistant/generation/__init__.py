"""Talking to models: chat backends (local llama.cpp, OpenAI-compatible, scripted), the GGUF
model files, the prompt templates and token counting."""
