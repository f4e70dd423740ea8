"""Storage backends, registered through the ``supportkit`` plugin hooks."""
