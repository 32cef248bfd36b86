leptos_query_tags::tag_tree! {
    mod app_tags {
        todos {
            by_id(id: i64);
            by_id(slug: String);
        }
    }
}

fn main() {}
