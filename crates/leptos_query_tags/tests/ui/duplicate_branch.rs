leptos_query_tags::tag_tree! {
    mod app_tags {
        todos {
            list;
        }
        todos {
            by_id(id: i64);
        }
    }
}

fn main() {}
