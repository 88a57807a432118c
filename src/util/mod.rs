//! Small leaf utilities every layer may use; nothing here imports another
//! Weir module, so it sits at the bottom of the module graph.

pub mod clock;
