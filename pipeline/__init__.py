"""The product on top of the stages: stage order, locking, resuming, ``state.json``/``clusters.json``, and the demo."""
