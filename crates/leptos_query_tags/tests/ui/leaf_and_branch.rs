leptos_query_tags::tag_tree! {
    mod app_tags {
        todos {
            list;
            // `list` cannot also be a branch: ["todos","list"] would be ambiguous.
            list {
                summary;
            }
        }
    }
}

fn main() {}
