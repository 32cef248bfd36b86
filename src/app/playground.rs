//! Tag Playground: the library's own `TagIndex` running in the browser. Type a pattern and see
//! which tags it matches, and why: a pattern matches a tag iff it is a segment-wise prefix of it.
//!
//! Tags and patterns are written in the dotted form the devtools show (`todos.by_id.3`: digits
//! are integers, `true`/`false` booleans, anything else a string) or as the JSON the wire uses
//! (`["todos","by_id",3]`). Either way they are decoded and checked by the library
//! (`TagPattern::decode_json` with the hub's default limits), so an invalid one shows the
//! library's own error.

use super::tags::app_tags;
use leptos::prelude::*;
use leptos_query_tags::tags::{DecodeLimits, Segment, Tag, TagError, TagIndex, TagPattern};

/// The tags the playground starts with: some of the demo's own.
fn starting_tags() -> Vec<Tag> {
    vec![
        app_tags::todos::list(),
        app_tags::todos::by_id(1),
        app_tags::todos::by_id(2),
        app_tags::notes::list(),
        app_tags::notes::by_id(7),
        app_tags::rapid::shots(),
    ]
}

/// Reads a pattern in dotted or JSON form (see the module docs). An empty input is the empty
/// pattern, which matches every tag.
pub fn parse_pattern(input: &str) -> Result<TagPattern, TagError> {
    TagPattern::decode_json(input_json(input)?.as_bytes(), &DecodeLimits::DEFAULT)
}

/// Reads a tag in dotted or JSON form; a tag needs at least one segment.
pub fn parse_tag(input: &str) -> Result<Tag, TagError> {
    Tag::decode_json(input_json(input)?.as_bytes(), &DecodeLimits::DEFAULT)
}

/// The wire JSON of a dotted or JSON input (empty: no segment), for the library to decode.
fn input_json(input: &str) -> Result<String, TagError> {
    let input = input.trim();
    if input.starts_with('[') {
        Ok(input.to_owned())
    } else if input.is_empty() {
        Ok("[]".to_owned())
    } else {
        dotted_to_json(input)
    }
}

fn dotted_to_json(input: &str) -> Result<String, TagError> {
    let segments = input
        .split('.')
        .map(|part| {
            let part = part.trim();
            if part.is_empty() {
                return Err(TagError::Malformed(
                    "an empty segment between dots (write JSON for an empty string)".into(),
                ));
            }
            Ok(if part == "true" || part == "false" {
                part.to_owned()
            } else if let Ok(n) = part.parse::<i64>() {
                n.to_string()
            } else {
                serde_json::to_string(part).expect("a string serializes")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("[{}]", segments.join(",")))
}

fn show(segment: &Segment) -> String {
    match segment {
        Segment::Str(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Why `pattern` matches `tag`, or why not, in one sentence.
pub fn explain(pattern: &TagPattern, tag: &Tag) -> String {
    let (p, t) = (pattern.segments(), tag.segments());
    if p.is_empty() {
        return "The empty pattern is a prefix of every tag.".into();
    }
    for (i, (a, b)) in p.iter().zip(t).enumerate() {
        if a != b {
            let kind = if std::mem::discriminant(a) != std::mem::discriminant(b) {
                " (another type: 3 and \"3\" differ)"
            } else {
                ""
            };
            return format!(
                "Segment {} differs: {} ≠ {}{kind}.",
                i + 1,
                show(a),
                show(b)
            );
        }
    }
    if p.len() > t.len() {
        return format!(
            "The pattern has {} segments, the tag only {}: a pattern longer than a tag never matches it.",
            p.len(),
            t.len()
        );
    }
    if p.len() == t.len() {
        "Every segment is equal: the tag itself.".into()
    } else {
        format!(
            "The pattern ({} segment{}) is a prefix of the tag: it matches the tag and everything below it.",
            p.len(),
            if p.len() == 1 { "" } else { "s" }
        )
    }
}

/// The Tag Playground page.
#[component]
pub fn PlaygroundPage() -> impl IntoView {
    let tags_text = RwSignal::new(
        starting_tags()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let pattern_text = RwSignal::new("todos".to_owned());

    // Each line of the tags box: the tag, or the library's reason for refusing it.
    let tags = Memo::new(move |_| {
        tags_text.with(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| (line.to_owned(), parse_tag(line)))
                .collect::<Vec<_>>()
        })
    });
    let pattern = Memo::new(move |_| pattern_text.with(|text| parse_pattern(text)));
    // The index the query cache uses, built from the valid tags; keyed by line.
    let matched = Memo::new(move |_| {
        let Ok(pattern) = pattern.get() else {
            return Vec::new();
        };
        let mut index = TagIndex::new();
        tags.with(|tags| {
            for (i, (_, tag)) in tags.iter().enumerate() {
                if let Ok(tag) = tag {
                    index.insert(i, [tag.clone()]);
                }
            }
        });
        let mut hits = index.matches(&pattern);
        hits.sort_unstable();
        hits
    });

    let rows = move || {
        let pattern = pattern.get().ok();
        let matched = matched.get();
        tags.get()
            .into_iter()
            .enumerate()
            .map(|(i, (line, tag))| {
                let hit = matched.contains(&i);
                let (state, why) = match (&tag, &pattern) {
                    (Err(e), _) => ("invalid", format!("Not a tag: {e}")),
                    (Ok(tag), Some(p)) => (if hit { "match" } else { "miss" }, explain(p, tag)),
                    (Ok(_), None) => ("miss", "Fix the pattern first.".to_owned()),
                };
                let attr = line.clone();
                view! {
                    <li class=format!("tag-row {state}") data-tag=attr data-state=state>
                        <code class="tag">{line}</code>
                        <span class="verdict">
                            {match state {
                                "match" => "✓ matches",
                                "invalid" => "⚠ invalid",
                                _ => "✗ no match",
                            }}
                        </span>
                        <span class="why muted">{why}</span>
                    </li>
                }
            })
            .collect_view()
    };

    view! {
        <section class="card playground">
            <header class="card-header">
                <h1>"Tag Playground"</h1>
                <p class="muted">
                    "The library's TagIndex, running in your browser. "
                    <strong>"A pattern matches a tag iff it is a segment-wise prefix of it"</strong>
                    ": " <code>"todos"</code> " matches " <code>"todos.list"</code> " and "
                    <code>"todos.by_id.1"</code> ", " <code>"todos.by_id"</code>
                    " matches every todo by id, and a complete tag matches only itself."
                </p>
            </header>
            <div class="field">
                <label for="pattern">"Pattern (invalidate_tags)"</label>
                <input
                    id="pattern"
                    type="text"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=pattern_text
                    on:input=move |ev| pattern_text.set(event_target_value(&ev))
                    aria-describedby="pattern-status"
                />
                <p id="pattern-status" class="pattern-status" aria-live="polite">
                    {move || match pattern.get() {
                        Ok(p) => view! {
                            <span class="ok" data-valid="true">
                                {format!("Pattern {} on the wire: {}", if p.segments().is_empty() { "(everything)".to_owned() } else { p.to_string() }, p.to_json())}
                                {format!(" · matches {} of {} tags", matched.with(Vec::len), tags.with(|t| t.iter().filter(|(_, t)| t.is_ok()).count()))}
                            </span>
                        }.into_any(),
                        Err(e) => view! {
                            <span class="error" role="alert" data-valid="false">{format!("Invalid pattern: {e}")}</span>
                        }.into_any(),
                    }}
                </p>
                <p class="examples muted">
                    "Try: "
                    {[
                        ("todos", "todos"),
                        ("todos.by_id", "todos.by_id"),
                        ("todos.by_id.1", "todos.by_id.1"),
                        ("[\"todos\",\"by_id\",\"1\"]", "[\"todos\",\"by_id\",\"1\"]"),
                        ("notes", "notes"),
                        ("(empty)", ""),
                        ("[\"todos\",1.5]", "[\"todos\",1.5]"),
                    ]
                        .into_iter()
                        .map(|(label, value)| {
                            view! {
                                <button type="button" class="chip" on:click=move |_| pattern_text.set(value.to_owned())>
                                    <code>{label}</code>
                                </button>
                            }
                        })
                        .collect_view()}
                </p>
            </div>
            <ul class="tag-rows" aria-label="Tags and whether the pattern matches them">{rows}</ul>
            <div class="field">
                <label for="tags">"Tags in the index (one per line; edit them)"</label>
                <textarea
                    id="tags"
                    rows="7"
                    spellcheck="false"
                    prop:value=tags_text
                    on:input=move |ev| tags_text.set(event_target_value(&ev))
                ></textarea>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_json_forms_read_alike_and_errors_are_the_library_s() {
        assert_eq!(parse_tag("todos.by_id.3"), Ok(app_tags::todos::by_id(3)));
        assert_eq!(
            parse_tag(r#"["todos","by_id",3]"#),
            Ok(app_tags::todos::by_id(3))
        );
        assert_eq!(parse_pattern(""), Ok(TagPattern::everything()));
        assert!(matches!(
            parse_pattern("todos..x"),
            Err(TagError::Malformed(_))
        ));
        let float = parse_pattern(r#"["todos",1.5]"#).unwrap_err();
        assert!(float.to_string().contains("floats"), "{float}");
        assert_eq!(parse_tag(""), Err(TagError::EmptyTag));
        let deep = (0..17).map(|i| i.to_string()).collect::<Vec<_>>().join(".");
        assert!(matches!(
            parse_pattern(&deep),
            Err(TagError::TooDeep { .. })
        ));
    }

    #[test]
    fn explanations_follow_the_prefix_rule() {
        let by_id = app_tags::todos::by_id(1);
        assert!(
            explain(&parse_pattern("todos").unwrap(), &by_id).contains("is a prefix of the tag")
        );
        assert!(explain(&by_id.clone().into(), &by_id).contains("the tag itself"));
        assert!(explain(&parse_pattern("todos.list").unwrap(), &by_id).contains("Segment 2"));
        assert!(
            explain(&parse_pattern(r#"["todos","by_id","1"]"#).unwrap(), &by_id)
                .contains("another type")
        );
        assert!(explain(&parse_pattern("todos.by_id.1.x").unwrap(), &by_id).contains("longer"));
    }
}
