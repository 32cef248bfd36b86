//! [`Local`]: query data that is not `Send`, in a browser-only (`csr`) app.

use send_wrapper::SendWrapper;
use serde::{de, ser, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

/// What serializing or deserializing a [`Local`] answers.
const NOT_SERIALIZABLE: &str = "a leptos_query_tags::query::Local value stays in its browser tab: \
                                it is never serialized or deserialized";

/// Query data (or a query's error) that is not `Send`: a `web_sys` or `js_sys` object, an `Rc`,
/// anything that lives in the page. Wrap it in `Local` to cache it, share it between
/// components and keep it live by tags like any other query data, in a client-side-rendered
/// (`csr`) app.
///
/// The query cache is shared by the whole page and holds `Send + Sync` values, as a Leptos
/// `Resource` does. A `csr` app runs on the browser's one thread, so `Local` keeps its value in
/// a [`SendWrapper`], Leptos's own way of holding browser objects in `Send` places: the value
/// is only ever touched on the thread that made it. That is why `Local` exists only with the
/// `csr` feature: on a server a value moves between threads, and touching it on another one
/// panics. A `hydrate` app renders its queries on the server too, so its data must be `Send`
/// and serializable (fetch the plain data and build browser objects from it in the view).
///
/// A `Local` is never serialized: a `csr` app has no server render to send data from. Its
/// `Serialize` and `Deserialize` answer an error (the devtools panel shows no JSON for it).
/// Two `Local`s are equal when their values are (for a `js_sys` object: the same object, so
/// the data of two fetches never compares equal).
///
/// # Panics
///
/// Reading, taking or dropping the value on a thread other than the one that made it panics
/// (it never happens in a `csr` app, which has one thread).
///
/// ```no_run
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::query::Local;
///
/// leptos_query_tags::tag_tree! { pub mod app_tags { todos { list; } } }
///
/// /// `GET /api/todos` as text (`gloo-net`, a `#[server]` function, ...).
/// async fn todos_json() -> Result<String, String> {
///     # Ok("[]".to_owned())
/// }
///
/// /// The list as the browser's own `JSON.parse` made it: a `js_sys::Array`, not `Send`.
/// async fn todos_as_js() -> Result<Local<js_sys::Array>, String> {
///     let text = todos_json().await?;
///     let parsed = js_sys::JSON::parse(&text).map_err(|_| "not JSON".to_owned())?;
///     Ok(Local::new(js_sys::Array::from(&parsed)))
/// }
///
/// fn todos_js_query() -> Query<(), Local<js_sys::Array>, String> {
///     Query::new("todos-js", |()| todos_as_js()).tags(|_| vec![app_tags::todos::list()])
/// }
///
/// #[component]
/// fn Count() -> impl IntoView {
///     let todos = use_query(&todos_js_query(), || ());
///     // `Local` derefs to the value: `.length()` is `js_sys::Array`'s.
///     view! { <p>{move || todos.data().map(|todos| todos.length())} " todos"</p> }
/// }
/// ```
pub struct Local<T>(SendWrapper<T>);

impl<T> Local<T> {
    /// Wraps `value`, made on this (the page's) thread.
    pub fn new(value: T) -> Self {
        Local(SendWrapper::new(value))
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.0.take()
    }
}

impl<T> Deref for Local<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Local<T> {
    fn from(value: T) -> Self {
        Local::new(value)
    }
}

impl<T: Clone> Clone for Local<T> {
    fn clone(&self) -> Self {
        Local::new(T::clone(self))
    }
}

impl<T: PartialEq> PartialEq for Local<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: fmt::Debug> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Local").field(&**self).finish()
    }
}

impl<T> Serialize for Local<T> {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom(NOT_SERIALIZABLE))
    }
}

impl<'de, T> Deserialize<'de> for Local<T> {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(NOT_SERIALIZABLE))
    }
}

#[cfg(test)]
mod tests {
    use super::Local;
    use std::rc::Rc;

    #[test]
    fn a_local_value_reads_clones_and_compares_on_its_thread() {
        let shared = Rc::new(vec![1, 2, 3]);
        let local = Local::new(shared.clone());
        let copy = local.clone();
        assert_eq!(local.len(), 3);
        assert_eq!(local, copy);
        assert_eq!(Rc::strong_count(&shared), 3);
        assert_eq!(format!("{copy:?}"), "Local([1, 2, 3])");
        assert!(Rc::ptr_eq(&copy.into_inner(), &shared));
    }

    #[test]
    fn a_local_value_refuses_to_be_serialized_or_deserialized() {
        let error = serde_json::to_string(&Local::new(Rc::new(1))).unwrap_err();
        assert!(error.to_string().contains("never serialized"), "{error}");
        let error = serde_json::from_str::<Local<u8>>("1").unwrap_err();
        assert!(error.to_string().contains("never serialized"), "{error}");
    }
}
