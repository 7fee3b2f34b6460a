"""Pure, synchronous core: no Trio, no I/O, no clock reads."""
