//! The demo server binary (`cargo leptos watch` runs it).

#[tokio::main]
async fn main() {
    if let Err(error) = query_tags_demo::server::run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
