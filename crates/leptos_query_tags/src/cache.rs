//! The query registry: which live queries carry which tags, and whom to refetch for an event.
//!
//! Pure logic with no reactive or browser dependency, so that it is tested natively.

use crate::tags::{Tag, TagIndex, TagPattern};
use std::collections::HashMap;

/// Identifies one live query in a [`QueryRegistry`].
pub type QueryId = u64;

/// Live queries, their tags, and a handle to refetch each one (`R`, typically a callback).
#[derive(Debug)]
pub struct QueryRegistry<R> {
    index: TagIndex<QueryId>,
    handles: HashMap<QueryId, R>,
    next_id: QueryId,
}

impl<R> Default for QueryRegistry<R> {
    fn default() -> Self {
        QueryRegistry {
            index: TagIndex::new(),
            handles: HashMap::new(),
            next_id: 1,
        }
    }
}

impl<R: Clone> QueryRegistry<R> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a live query with no tags yet; returns its id.
    pub fn register(&mut self, handle: R) -> QueryId {
        let id = self.next_id;
        self.next_id += 1;
        self.handles.insert(id, handle);
        id
    }

    /// Replaces the tags of a registered query (ignored for an unknown id).
    pub fn set_tags(&mut self, id: QueryId, tags: impl IntoIterator<Item = Tag>) {
        if self.handles.contains_key(&id) {
            self.index.insert(id, tags);
        }
    }

    /// The tags a query carries.
    pub fn tags_of(&self, id: QueryId) -> &[Tag] {
        self.index.tags_of(&id).unwrap_or_default()
    }

    /// Forgets a query (its component was unmounted).
    pub fn unregister(&mut self, id: QueryId) {
        self.handles.remove(&id);
        self.index.remove(&id);
    }

    /// Number of live queries.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether no query is live.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The handles of the queries any of `patterns` matches, each once.
    pub fn matching<'p>(
        &self,
        patterns: impl IntoIterator<Item = &'p TagPattern>,
    ) -> Vec<(QueryId, R)> {
        let mut ids = self.index.matches_any(patterns);
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.handles.get(&id).map(|h| (id, h.clone())))
            .collect()
    }

    /// The handles of every live query (for `reset`).
    pub fn all(&self) -> Vec<(QueryId, R)> {
        let mut all: Vec<_> = self
            .handles
            .iter()
            .map(|(id, h)| (*id, h.clone()))
            .collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::Segment;

    fn tag(s: &[&'static str]) -> Tag {
        Tag::from_segments(s.iter().map(|s| Segment::from(*s)))
    }

    #[test]
    fn matching_follows_tags_and_forgets_unregistered_queries() {
        let mut registry = QueryRegistry::new();
        let list = registry.register("list");
        let one = registry.register("one");
        let notes = registry.register("notes");
        registry.set_tags(list, [tag(&["todos", "list"])]);
        registry.set_tags(one, [tag(&["todos", "by_id", "1"])]);
        registry.set_tags(notes, [tag(&["notes", "list"])]);

        let todos = TagPattern::from_segments(["todos".into()]);
        assert_eq!(
            registry.matching([&todos]),
            vec![(list, "list"), (one, "one")]
        );
        let both = [TagPattern::from(tag(&["todos", "list"])), todos.clone()];
        assert_eq!(
            registry.matching(&both).len(),
            2,
            "one refetch per query per event"
        );

        registry.unregister(one);
        assert_eq!(registry.matching([&todos]), vec![(list, "list")]);
        registry.set_tags(one, [tag(&["todos", "x"])]);
        assert_eq!(
            registry.matching([&todos]),
            vec![(list, "list")],
            "tags of unknown ids are ignored"
        );
        assert_eq!(registry.all().len(), 2);
    }
}
