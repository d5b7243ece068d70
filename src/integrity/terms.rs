//! Placeholder: filled in by the information-integrity work (DESIGN §10).
