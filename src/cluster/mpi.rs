//! Ranks over MPI: a placeholder the MPI backend replaces.
