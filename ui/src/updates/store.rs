//! The updates tables, and their queries on [`crate::store::Store`].

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "";
