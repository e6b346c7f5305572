//! The simulated PSTN exchange.
