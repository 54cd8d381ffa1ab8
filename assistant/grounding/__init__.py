"""Tying answers to the documents: sentences, the passages shown to the model, follow-up
questions, and the checks every answer sentence must pass against what it cites."""
