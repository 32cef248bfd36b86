//! [`TagIndex`]: which keys carry tags matching a pattern, without scanning every key.

use super::{Segment, Tag, TagPattern};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// A trie over tag segments that answers "which keys carry a tag this pattern matches" in
/// O(pattern length + size of the matching subtree), instead of a scan over every key.
///
/// Keys are typically query ids. A key may carry many tags; [`TagIndex::insert`] replaces them
/// all, which is what result-derived tags need.
///
/// ```
/// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
///
/// let mut index = TagIndex::new();
/// index.insert(1, [Tag::from_segments(["todos".into(), "list".into()])]);
/// index.insert(2, [Tag::from_segments(["todos".into(), "by_id".into(), 2.into()])]);
/// index.insert(3, [Tag::from_segments(["notes".into(), "list".into()])]);
///
/// let mut hits = index.matches(&TagPattern::from_segments(["todos".into()]));
/// hits.sort();
/// assert_eq!(hits, vec![1, 2]);
/// index.remove(&2);
/// assert_eq!(index.matches(&TagPattern::from_segments(["todos".into()])), vec![1]);
/// ```
#[derive(Debug, Clone)]
pub struct TagIndex<K> {
    root: Node<K>,
    tags_of: HashMap<K, Vec<Tag>>,
}

#[derive(Debug, Clone)]
struct Node<K> {
    children: HashMap<Segment, Node<K>>,
    /// Keys with a tag that ends exactly here.
    keys: HashSet<K>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            keys: HashSet::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Default for TagIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone> TagIndex<K> {
    /// An empty index.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let index: TagIndex<u32> = TagIndex::new();
    /// assert!(index.is_empty());
    /// ```
    pub fn new() -> Self {
        TagIndex {
            root: Node::default(),
            tags_of: HashMap::new(),
        }
    }

    /// Number of keys in the index.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert("a", [todo(1), todo(2)]);
    /// assert_eq!(index.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.tags_of.len()
    }

    /// Whether the index holds no key.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// index.remove(&1);
    /// assert!(index.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tags_of.is_empty()
    }

    /// The tags `key` carries, if it is in the index.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// assert_eq!(index.tags_of(&1), Some(&[todo(1)][..]));
    /// assert_eq!(index.tags_of(&2), None);
    /// ```
    pub fn tags_of(&self, key: &K) -> Option<&[Tag]> {
        self.tags_of.get(key).map(Vec::as_slice)
    }

    /// Every key in the index, in no particular order.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(7, [todo(1)]);
    /// assert_eq!(index.keys().collect::<Vec<_>>(), vec![&7]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.tags_of.keys()
    }

    /// Sets the tags of `key`, replacing whatever it carried before.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// index.insert(1, [todo(2)]); // result-derived tags changed
    /// assert!(index.matches(&todo(1).into()).is_empty());
    /// assert_eq!(index.matches(&todo(2).into()), vec![1]);
    /// ```
    pub fn insert(&mut self, key: K, tags: impl IntoIterator<Item = Tag>) {
        let mut tags: Vec<Tag> = tags.into_iter().collect();
        crate::sort::sort(&mut tags, |a, b| a < b);
        tags.dedup();
        if self.tags_of.get(&key) == Some(&tags) {
            return;
        }
        self.remove(&key);
        for tag in &tags {
            let mut node = &mut self.root;
            for segment in tag.segments() {
                node = node.children.entry(segment.clone()).or_default();
            }
            node.keys.insert(key.clone());
        }
        self.tags_of.insert(key, tags);
    }

    /// Removes `key` and prunes the branches only it kept alive.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// assert_eq!(index.remove(&1), Some(vec![todo(1)]));
    /// assert_eq!(index.remove(&1), None);
    /// ```
    pub fn remove(&mut self, key: &K) -> Option<Vec<Tag>> {
        let tags = self.tags_of.remove(key)?;
        for tag in &tags {
            remove_path(&mut self.root, tag.segments(), key);
        }
        Some(tags)
    }

    /// The keys carrying at least one tag that `pattern` matches, each once, in no particular
    /// order.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// index.insert(2, [todo(2)]);
    /// assert_eq!(index.matches(&todo(2).into()), vec![2]);
    /// assert_eq!(index.matches(&TagPattern::from_segments(["notes".into()])), Vec::<i32>::new());
    /// ```
    pub fn matches(&self, pattern: &TagPattern) -> Vec<K> {
        let mut node = &self.root;
        for segment in pattern.segments() {
            match node.children.get(segment) {
                Some(child) => node = child,
                None => return Vec::new(),
            }
        }
        let mut found = HashSet::new();
        let mut stack = vec![node];
        while let Some(node) = stack.pop() {
            found.extend(node.keys.iter().cloned());
            stack.extend(node.children.values());
        }
        found.into_iter().collect()
    }

    /// The keys any of `patterns` matches, each once.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagIndex, TagPattern};
    ///
    /// let todo = |id: i64| Tag::from_segments(["todos".into(), id.into()]);
    /// let mut index = TagIndex::new();
    /// index.insert(1, [todo(1)]);
    /// index.insert(2, [todo(2)]);
    /// let mut hits = index.matches_any(&[todo(1).into(), TagPattern::everything()]);
    /// hits.sort();
    /// assert_eq!(hits, vec![1, 2]);
    /// ```
    pub fn matches_any<'p>(&self, patterns: impl IntoIterator<Item = &'p TagPattern>) -> Vec<K> {
        let mut found = HashSet::new();
        for pattern in patterns {
            found.extend(self.matches(pattern));
        }
        found.into_iter().collect()
    }
}

/// Removes `key` at the end of `path`; returns whether `node` became empty.
fn remove_path<K: Hash + Eq>(node: &mut Node<K>, path: &[Segment], key: &K) -> bool {
    match path.split_first() {
        None => {
            node.keys.remove(key);
        }
        Some((first, rest)) => {
            if let Some(child) = node.children.get_mut(first) {
                if remove_path(child, rest, key) {
                    node.children.remove(first);
                }
            }
        }
    }
    node.keys.is_empty() && node.children.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(segments: &[&'static str]) -> Tag {
        Tag::from_segments(segments.iter().map(|s| Segment::from(*s)))
    }

    fn p(segments: &[&'static str]) -> TagPattern {
        TagPattern::from_segments(segments.iter().map(|s| Segment::from(*s)))
    }

    fn sorted(mut v: Vec<u32>) -> Vec<u32> {
        v.sort();
        v
    }

    #[test]
    fn replace_and_prune() {
        let mut index = TagIndex::new();
        index.insert(1, [t(&["a", "b"]), t(&["a", "c"])]);
        index.insert(2, [t(&["a", "b"])]);
        assert_eq!(
            sorted(index.matches(&p(&["a"]))),
            vec![1, 2],
            "a key with two matching tags is reported once"
        );
        index.insert(1, [t(&["z"])]);
        assert_eq!(sorted(index.matches(&p(&["a"]))), vec![2]);
        assert_eq!(index.matches(&p(&["a", "c"])), Vec::<u32>::new());
        index.remove(&2);
        assert!(
            !index.root.children.contains_key(&Segment::from("a")),
            "empty branches are pruned"
        );
        assert_eq!(sorted(index.matches(&TagPattern::everything())), vec![1]);
        assert_eq!(index.len(), 1);
    }
}
