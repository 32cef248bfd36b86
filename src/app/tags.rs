//! The demo's tag tree, shared by the server functions (which invalidate) and the pages (whose
//! queries carry the tags).

leptos_query_tags::tag_tree! {
    /// Every tag of the demo.
    pub mod app_tags {
        /// The todo list and its items.
        todos {
            /// The list of todos (its membership and order).
            list;
            /// One todo, by id.
            by_id(id: i64);
        }
    }
}
