"""Pure-Python matching engine core: commands in, events out. No Django, no I/O."""
