"""Pure room game rules (timer, boss): frozen dataclasses in, new state out; no I/O, no clock."""
