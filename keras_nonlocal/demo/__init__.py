"""The built-in demo: non-local against local on a task built for it."""
