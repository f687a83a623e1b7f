"""Developer tools: registry build and check, release check, docs generator, scaffold, wrap, whats-new."""
