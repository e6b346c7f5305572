//! Boards: definitions, the simulated PSTN exchange and virtual phones.
