"""Deciding and carrying out rounds: the engine, the round history, preflight, interrupts, the publisher protocol."""
