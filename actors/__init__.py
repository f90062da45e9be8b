"""One actor per module; each owns its sockets and state and runs in its own thread."""
