//! Config files.
