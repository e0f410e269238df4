"""Other hosts: bench worker agents, load generators elsewhere, and the control channel to them."""
