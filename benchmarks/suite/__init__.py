"""The FUTE task suite: the committed data (``data/``, ``tasks.json``) and its builder (``builder/``)."""
