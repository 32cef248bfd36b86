//! The demo's tag tree, shared by the server functions (which invalidate) and the pages (whose
//! queries carry the tags).

leptos_query_tags::tag_tree! {
    /// Every tag of the demo.
    pub mod app_tags {
        /// The todo list and its items (global scope: everyone sees them).
        todos {
            /// The list of todos (its membership and order).
            list;
            /// One todo, by id.
            by_id(id: i64);
        }
        /// A signed-in user's notes (published in that user's scope only).
        notes {
            /// The list of the user's notes.
            list;
            /// One note, by id.
            by_id(id: i64);
            /// A user's note statistics (cached on the server, purged by this tag).
            stats(user: i64);
        }
        /// Rapid fire's bursts of writes.
        rapid {
            /// The writes of the latest burst.
            shots;
        }
    }
}
