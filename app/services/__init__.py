"""Service classes: plain Python, no Flask. Each takes its collaborators in its constructor."""
