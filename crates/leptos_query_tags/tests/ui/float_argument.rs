leptos_query_tags::tag_tree! {
    mod app_tags {
        prices {
            // Floats are not segments: 1.0 == 1 has no good answer in a cache key.
            at(amount: f64);
        }
    }
}

fn main() {}
