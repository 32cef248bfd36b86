//! The types both sides share, and (feature `csr`) the browser app.

use serde::{Deserialize, Serialize};

leptos_query_tags::tag_tree! {
    /// The tags of the todo list: the backend invalidates them, the app's query carries them.
    pub mod tags {
        todos {
            list;
        }
    }
}

/// One todo, as the REST API sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Todo {
    pub id: u64,
    pub title: String,
}

#[cfg(feature = "csr")]
pub mod app;
