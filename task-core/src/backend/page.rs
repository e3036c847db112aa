//! One `list` call as a store runs it.

use crate::config::StoreConfig;
use crate::cursor::ListPosition;
use crate::error::TaskError;
use crate::store::{PageRequest, Scope, TaskPage};
use crate::wire::Task;

/// One `list` call, checked: the scope, the page size clamped by the store's configuration, and
/// the position the cursor names. A store fetches up to [`PageQuery::fetch`] visible tasks in
/// listing order (by `createdAt`, then id) after [`PageQuery::after`], and hands them to
/// [`PageQuery::page`], which keeps the page and makes the next cursor.
///
/// ```
/// use task_core::backend::PageQuery;
/// use task_core::{PageRequest, Scope, StoreConfig};
/// # fn tasks(n: usize) -> Vec<task_core::Task> {
/// #     let at = task_core::backend::time::from_millis(0);
/// #     (0..n).map(|i| task_core::Task {
/// #         task_id: i.to_string(), status: task_core::TaskStatus::Working, status_message: None,
/// #         created_at: at, last_updated_at: at, ttl: None, poll_interval: None,
/// #     }).collect()
/// # }
/// let scope = Scope::All;
/// let query = PageQuery::new(&scope, &PageRequest::first().with_limit(2), &StoreConfig::default())?;
/// assert_eq!(query.after, None);
/// assert_eq!(query.fetch(), 3, "one more than the page, to know whether more follow");
/// let page = query.page(tasks(3));
/// assert_eq!(page.tasks.len(), 2);
/// let next = PageQuery::new(&scope, &PageRequest::after(page.next_cursor), &StoreConfig::default())?;
/// assert_eq!(next.after.map(|p| p.task_id), Some("1".to_owned()));
/// # Ok::<(), task_core::TaskError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageQuery<'a> {
    /// Who lists: the page holds only tasks this scope may see, and its cursor is bound to it.
    pub scope: &'a Scope,
    /// The page size.
    pub limit: usize,
    /// The position to list after; `None` starts at the oldest task.
    pub after: Option<ListPosition>,
}

impl<'a> PageQuery<'a> {
    /// Checks a request: the scope's owner name, the page size (a zero size is invalid; a size
    /// over the store's maximum is clamped) and the cursor, which must have been made for
    /// `scope`.
    pub fn new(
        scope: &'a Scope,
        request: &PageRequest,
        config: &StoreConfig,
    ) -> Result<Self, TaskError> {
        scope.validate()?;
        let limit = config.page_limit(request.limit)?;
        let after = request
            .cursor
            .as_deref()
            .map(|cursor| ListPosition::decode(cursor, scope))
            .transpose()?;
        Ok(PageQuery {
            scope,
            limit,
            after,
        })
    }

    /// How many tasks to fetch: one more than the page, which says whether another follows.
    pub fn fetch(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// The page from the tasks fetched, in listing order: the first [`PageQuery::limit`] of
    /// them, and a cursor after the last one when more were fetched.
    pub fn page(&self, mut tasks: Vec<Task>) -> TaskPage {
        let next_cursor = if tasks.len() > self.limit {
            tasks.truncate(self.limit);
            tasks
                .last()
                .map(|task| ListPosition::after(task).encode(self.scope))
        } else {
            None
        };
        TaskPage { tasks, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::time;
    use crate::wire::TaskStatus;

    fn task(id: &str) -> Task {
        Task {
            task_id: id.to_owned(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: time::from_millis(5),
            last_updated_at: time::from_millis(5),
            ttl: None,
            poll_interval: None,
        }
    }

    #[test]
    fn a_full_page_has_a_cursor_and_a_short_one_none() {
        let alice = Scope::owner("alice");
        let config = StoreConfig::default().with_page_size(2, 10);
        let query = PageQuery::new(&alice, &PageRequest::first(), &config).unwrap();
        assert_eq!(query.fetch(), 3);
        let page = query.page(vec![task("a"), task("b")]);
        assert_eq!(page.tasks.len(), 2);
        assert_eq!(page.next_cursor, None, "nothing follows");
        let page = query.page(vec![task("a"), task("b"), task("c")]);
        assert_eq!(page.tasks, vec![task("a"), task("b")]);
        let cursor = page.next_cursor.expect("a cursor");
        let after = ListPosition::decode(&cursor, &alice).unwrap();
        assert_eq!(after, ListPosition::after(&task("b")));
        assert!(
            PageQuery::new(&Scope::All, &PageRequest::after(Some(cursor)), &config).is_err(),
            "bound to its scope"
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let config = StoreConfig::default();
        let zero = PageRequest::first().with_limit(0);
        assert!(PageQuery::new(&Scope::All, &zero, &config).is_err());
        let garbage = PageRequest::after(Some("zz".into()));
        assert!(matches!(
            PageQuery::new(&Scope::All, &garbage, &config),
            Err(TaskError::InvalidCursor)
        ));
        let bad_owner = Scope::owner("");
        assert!(PageQuery::new(&bad_owner, &PageRequest::first(), &config).is_err());
        let huge = PageRequest::first().with_limit(usize::MAX);
        let query = PageQuery::new(&Scope::All, &huge, &config).unwrap();
        assert_eq!(query.limit, config.max_page_size);
    }
}
