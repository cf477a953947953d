"""Applications on top of every layer: the ``alpr`` CLI, the demo and the hotlist commands."""
