"""Layer 1: the one result contract every engine implements, and the pieces it is built on."""
