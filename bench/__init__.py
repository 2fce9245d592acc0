"""`make bench`: the services measured next to their anchors, alternating, in one run (see issue 6)."""
