//! Helpers shared by the end-to-end tests: locating binaries, starting peers, bounded waits.
