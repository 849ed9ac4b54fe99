//! Path patterns, as `backup --exclude` and `restore --include/--exclude`
//! take them. A pattern with a `/` matches the whole path (`/srv/*/cache`);
//! one without matches any single name (`*.tmp`, `node_modules`).

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::Path;

/// A pattern that globset refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct PathPatterns {
    patterns: Vec<String>,
    by_path: GlobSet,
    by_name: GlobSet,
}

impl Default for PathPatterns {
    fn default() -> Self {
        PathPatterns {
            patterns: Vec::new(),
            by_path: GlobSet::empty(),
            by_name: GlobSet::empty(),
        }
    }
}

impl PathPatterns {
    pub fn new(patterns: Vec<String>) -> Result<Self, PatternError> {
        let mut by_path = GlobSetBuilder::new();
        let mut by_name = GlobSetBuilder::new();
        for p in &patterns {
            let glob = Glob::new(p.trim_end_matches('/')).map_err(|e| PatternError {
                pattern: p.clone(),
                reason: e.to_string(),
            })?;
            if p.trim_end_matches('/').contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| PatternError {
                pattern: patterns.join(" "),
                reason: e.to_string(),
            })
        };
        Ok(PathPatterns {
            by_path: build(by_path)?,
            by_name: build(by_name)?,
            patterns,
        })
    }

    /// Reads patterns from a file: one per line, `#` comments and blank lines ignored.
    pub fn patterns_from_file(path: &Path) -> std::io::Result<Vec<String>> {
        Ok(std::fs::read_to_string(path)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect())
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True if `path` itself matches (ancestors are not considered).
    pub fn matches(&self, path: &Path) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        self.by_path.is_match(path) || path.file_name().is_some_and(|n| self.by_name.is_match(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_matched_as_documented() {
        let set = PathPatterns::new(vec!["*.tmp".into(), "/srv/*/cache".into()]).unwrap();
        assert!(set.matches(Path::new("/home/a/x.tmp")));
        assert!(set.matches(Path::new("/srv/app/cache")));
        assert!(!set.matches(Path::new("/srv/app/data")));
        assert!(!set.matches(Path::new("/home/a/x.txt")));
    }
}
