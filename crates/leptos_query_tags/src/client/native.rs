//! The runtime where there is no browser (the server render, native tests): there is no event
//! stream to open and no window to watch. The provider's effect never runs on the server; these
//! exist so that it calls the same functions on every side.

use super::live::QueryTagsClient;
use crate::protocol::Cursor;

/// Opens nothing.
pub(crate) fn connect(_: QueryTagsClient, _: Option<Cursor>, _: Option<String>) {}
