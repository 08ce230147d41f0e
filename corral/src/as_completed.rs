//! as_completed (placeholder: filled in by its own work item).
